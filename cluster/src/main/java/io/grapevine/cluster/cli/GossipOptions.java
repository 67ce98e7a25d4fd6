package io.grapevine.cluster.cli;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.HostAndPort;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * How a program takes part in gossip, as validated from {@link GossipFlags}: exactly one of
 * {@code clusterKey} and {@code insecure}.
 *
 * @param join       seed members to join through (may be empty for a proxy that others join)
 * @param advertise  the address other members reach this one at, or null to choose one
 * @param bindHost   the local address the gossip port listens on, or null for the advertised one
 * @param clusterKey the key file, or null when {@code insecure}
 * @param insecure   gossip without a key, as the operator asked with {@code --insecure-gossip}
 */
public record GossipOptions(List<HostAndPort> join, String advertise, String bindHost, Path clusterKey,
                            boolean insecure) {

    /** The keyring of {@link #clusterKey()}, or null when insecure; a bad file is a usage error. */
    public ClusterKeyring loadKeyring() throws UsageException {
        if (clusterKey == null) {
            return null;
        }
        try {
            return ClusterKeyring.load(clusterKey);
        } catch (IOException e) {
            throw new UsageException("--cluster-key " + e.getMessage());
        }
    }

    /** Cluster settings with these seeds, addresses and keyring; the caller adds port and alias. */
    public ClusterSettings.Builder settings(ClusterKeyring keyring) {
        return ClusterSettings.builder()
                .seeds(join.stream().map(HostAndPort::toString).toList())
                .advertiseHost(advertise)
                .bindHost(bindHost)
                .keyring(keyring)
                .insecure(insecure);
    }
}
