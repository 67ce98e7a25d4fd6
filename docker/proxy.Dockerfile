# The Grapevine proxy. Build the jars first (./grapevine build), then: docker compose up --scale web=5
FROM eclipse-temurin:17-jre

WORKDIR /opt/grapevine
COPY proxy/target/grapevine-proxy.jar /opt/grapevine/grapevine-proxy.jar
COPY templates /opt/grapevine/templates
COPY docker/servers.conf /etc/grapevine/servers.conf

# The launcher's options for the proxy (see ./grapevine).
ENV GRAPEVINE_JVM_OPTS="-Xms256m -Xmx512m -XX:+UseSerialGC -XX:+PerfDisableSharedMem -Dio.netty.leakDetection.level=disabled"

# 9000 clients, 9001 admin, 7946 gossip (agents join it).
EXPOSE 9000 9001 7946

# A proxy that agents join has no seeds of its own, so it must advertise an address the agents can
# reach: its container address (without --advertise it would announce 127.0.0.1).
ENTRYPOINT ["/bin/sh", "-c", "exec java $GRAPEVINE_JVM_OPTS -Dgrapevine.home=/opt/grapevine -jar /opt/grapevine/grapevine-proxy.jar --servers /etc/grapevine/servers.conf --listen 0.0.0.0:9000 --admin 0.0.0.0:9001 --gossip 7946 --advertise \"$(hostname -i | cut -d' ' -f1)\" --cluster-key /run/secrets/cluster_key \"$@\"", "grapevine-proxy"]
