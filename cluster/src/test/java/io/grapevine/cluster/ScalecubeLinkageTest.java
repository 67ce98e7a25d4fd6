package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.scalecube.cluster.ClusterImpl;
import io.scalecube.cluster.ClusterConfig;
import io.scalecube.cluster.transport.api.Transport;
import io.scalecube.transport.netty.tcp.TcpTransportFactory;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;

/**
 * Scalecube 2.7.10 was compiled against reactor-netty 1.2 and Netty 4.1; Grapevine runs it on the
 * reactor-netty line built for Netty 4.2 (see docs/membership.md). This test reads the constant pool of
 * every scalecube class and checks that each class, method and field it names in {@code reactor.*} and
 * {@code io.netty.*} exists on the classpath with the same descriptor: a {@code NoSuchMethodError} or
 * {@code NoClassDefFoundError} waiting in a code path the gossip tests do not reach fails here, at
 * build time, after any version bump.
 */
class ScalecubeLinkageTest {

    private static final List<String> CHECKED_PACKAGES = List.of("reactor/", "io/netty/");

    /** A reference from the constant pool: kind is Class, Field, Method or InterfaceMethod. */
    private record Ref(String kind, String owner, String name, String descriptor) {
        @Override
        public String toString() {
            return kind + " " + owner.replace('/', '.') + (name == null ? "" : "." + name + descriptor);
        }
    }

    @Test
    void everyReactorAndNettyMemberScalecubeUsesExists() throws Exception {
        Set<Path> jars = new LinkedHashSet<>();
        for (Class<?> c : List.of(ClusterImpl.class, ClusterConfig.class, Transport.class, TcpTransportFactory.class)) {
            jars.add(jarOf(c));
        }
        Set<Ref> refs = new LinkedHashSet<>();
        int classes = 0;
        for (Path jar : jars) {
            try (JarFile file = new JarFile(jar.toFile())) {
                Enumeration<JarEntry> entries = file.entries();
                while (entries.hasMoreElements()) {
                    JarEntry e = entries.nextElement();
                    if (e.getName().endsWith(".class") && !e.getName().contains("module-info")) {
                        try (InputStream in = file.getInputStream(e)) {
                            refs.addAll(references(in));
                        }
                        classes++;
                    }
                }
            }
        }
        assertTrue(classes > 40, "scalecube classes read from " + jars + ": " + classes);
        assertTrue(refs.size() > 100, "references to reactor and netty found: " + refs.size());

        Set<String> missing = new TreeSet<>();
        for (Ref ref : refs) {
            if (!resolves(ref)) {
                missing.add(ref.toString());
            }
        }
        assertEquals(Set.of(), missing, "scalecube references that the reactor-netty / reactor-core / Netty on the classpath lack");
    }

    private static Path jarOf(Class<?> c) throws URISyntaxException {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** The class, field and method references of one class file (JVMS 4.4) whose owner is a checked package. */
    private static List<Ref> references(InputStream raw) throws IOException {
        DataInputStream in = new DataInputStream(raw);
        if (in.readInt() != 0xCAFEBABE) {
            throw new IOException("not a class file");
        }
        in.readUnsignedShort();
        in.readUnsignedShort();
        int count = in.readUnsignedShort();
        int[] tags = new int[count];
        int[] first = new int[count];
        int[] second = new int[count];
        String[] utf8 = new String[count];
        for (int i = 1; i < count; i++) {
            int tag = in.readUnsignedByte();
            tags[i] = tag;
            switch (tag) {
                case 1 -> utf8[i] = in.readUTF();
                case 3, 4 -> in.readInt();
                case 5, 6 -> {
                    in.readLong();
                    i++; // a long or double takes two slots
                }
                case 7, 8, 16, 19, 20 -> first[i] = in.readUnsignedShort();
                case 9, 10, 11, 12, 17, 18 -> {
                    first[i] = in.readUnsignedShort();
                    second[i] = in.readUnsignedShort();
                }
                case 15 -> {
                    in.readUnsignedByte();
                    first[i] = in.readUnsignedShort();
                }
                default -> throw new IOException("unknown constant pool tag " + tag + " at " + i);
            }
        }
        List<Ref> refs = new ArrayList<>();
        for (int i = 1; i < count; i++) {
            if (tags[i] == 7) {
                String name = utf8[first[i]];
                String element = name.replaceFirst("^\\[+L?", "").replaceFirst(";$", "");
                if (checked(element)) {
                    refs.add(new Ref("Class", element, null, null));
                }
            } else if (tags[i] == 9 || tags[i] == 10 || tags[i] == 11) {
                String owner = utf8[first[first[i]]];
                int nameAndType = second[i];
                if (checked(owner) && !owner.startsWith("[")) {
                    String kind = tags[i] == 9 ? "Field" : tags[i] == 10 ? "Method" : "InterfaceMethod";
                    refs.add(new Ref(kind, owner, utf8[first[nameAndType]], utf8[second[nameAndType]]));
                }
            }
        }
        return refs;
    }

    private static boolean checked(String internalName) {
        return CHECKED_PACKAGES.stream().anyMatch(internalName::startsWith);
    }

    private static boolean resolves(Ref ref) {
        Class<?> owner;
        try {
            owner = Class.forName(ref.owner().replace('/', '.'), false, ScalecubeLinkageTest.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
        if (ref.name() == null) {
            return true;
        }
        // Members are looked up as the JVM resolves them (JVMS 5.4.3.2-4): the class, its superclasses,
        // then its superinterfaces.
        Deque<Class<?>> todo = new ArrayDeque<>();
        Set<Class<?>> seen = new HashSet<>();
        todo.add(owner);
        while (!todo.isEmpty()) {
            Class<?> c = todo.poll();
            if (!seen.add(c)) {
                continue;
            }
            if (declares(c, ref)) {
                return true;
            }
            if (c.getSuperclass() != null) {
                todo.add(c.getSuperclass());
            }
            todo.addAll(List.of(c.getInterfaces()));
        }
        // Interface methods may also be public methods of Object.
        return !ref.kind().equals("Field") && declares(Object.class, ref);
    }

    private static boolean declares(Class<?> c, Ref ref) {
        if (ref.kind().equals("Field")) {
            for (Field f : c.getDeclaredFields()) {
                if (f.getName().equals(ref.name()) && descriptor(f.getType()).equals(ref.descriptor())) {
                    return true;
                }
            }
            return false;
        }
        if (ref.name().equals("<init>")) {
            for (Constructor<?> k : c.getDeclaredConstructors()) {
                if (ref.descriptor().equals(descriptor(k.getParameterTypes(), void.class))) {
                    return true;
                }
            }
            return false;
        }
        for (Method m : c.getDeclaredMethods()) {
            if (m.getName().equals(ref.name()) && ref.descriptor().equals(descriptor(m.getParameterTypes(), m.getReturnType()))) {
                return true;
            }
        }
        return false;
    }

    private static String descriptor(Class<?>[] parameters, Class<?> result) {
        StringBuilder sb = new StringBuilder("(");
        for (Class<?> p : parameters) {
            sb.append(descriptor(p));
        }
        return sb.append(')').append(descriptor(result)).toString();
    }

    private static String descriptor(Class<?> type) {
        if (type.isArray()) {
            return type.getName().replace('.', '/');
        }
        if (!type.isPrimitive()) {
            return "L" + type.getName().replace('.', '/') + ";";
        }
        return switch (type.getName()) {
            case "void" -> "V";
            case "boolean" -> "Z";
            case "byte" -> "B";
            case "char" -> "C";
            case "short" -> "S";
            case "int" -> "I";
            case "long" -> "J";
            case "float" -> "F";
            case "double" -> "D";
            default -> throw new IllegalArgumentException(type.getName());
        };
    }
}
