# A demo web server and the agent that announces it: one container per backend, so that
# docker compose up --scale web=N grows the pool and docker compose stop drains one.
FROM eclipse-temurin:17-jre

WORKDIR /opt/grapevine
COPY agent/target/grapevine-agent.jar /opt/grapevine/grapevine-agent.jar

# The launcher's options for the agent (see ./grapevine): a small heap, C1 only, a quick start.
ENV GRAPEVINE_JVM_OPTS="-Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+PerfDisableSharedMem -Dio.netty.leakDetection.level=disabled"
ENV GRAPEVINE_JOIN=proxy:7946 GRAPEVINE_SERVICE=web GRAPEVINE_PORT=8080 GRAPEVINE_DRAIN_SECONDS=5

# Class data sharing, as the launcher does it: a warm-up run records the classes an agent's start loads;
# every container then maps them instead of loading them (half the CPU of a start).
RUN java $GRAPEVINE_JVM_OPTS -XX:ArchiveClassesAtExit=/opt/grapevine/grapevine-agent.jsa \
        -cp /opt/grapevine/grapevine-agent.jar io.grapevine.agent.AgentWarmup > /dev/null
ENV GRAPEVINE_JVM_OPTS="$GRAPEVINE_JVM_OPTS -XX:SharedArchiveFile=/opt/grapevine/grapevine-agent.jsa"

EXPOSE 8080

# The backend listens on the container's address, and the agent announces that address; it joins
# the proxy by its service name. On SIGTERM (docker stop) it announces draining, waits, leaves, exits 0.
ENTRYPOINT ["/bin/sh", "-c", "addr=\"$(hostname -i | cut -d' ' -f1)\"; exec java $GRAPEVINE_JVM_OPTS -jar /opt/grapevine/grapevine-agent.jar --join \"$GRAPEVINE_JOIN\" --service \"$GRAPEVINE_SERVICE\" --target \"$addr:$GRAPEVINE_PORT\" --advertise \"$addr\" --demo --cluster-key /run/secrets/cluster_key --drain-seconds \"$GRAPEVINE_DRAIN_SECONDS\" \"$@\"", "grapevine-agent"]
