package io.grapevine.proxy;

public final class ProxyMain {
    public static void main(String[] args) {
    }
}
