#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft) on 127.0.0.1 for the shard tests and the benchmark
# (docs/SCALE-OUT.md). No Docker: the broker's jars come from Maven Central through Maven (the
# ordinary client for them) into node_modules/.cache/kafka, once; OpenJDK 17+ runs it.
#
#   DELEVERAGE_KAFKA_CACHE=DIR overrides the cache directory.
#
#   scripts/kafka.sh fetch              download the jars (cached)
#   scripts/kafka.sh start DIR [PORT]   format DIR, start the broker, wait until it answers;
#                                       prints "pid=N port=P" and leaves the pid in DIR/pid
#   scripts/kafka.sh stop DIR           stop the broker whose pid is in DIR/pid
#
# Any failure exits non-zero with the reason on stderr (the tests fail with it, never skip).
set -euo pipefail
cd "$(dirname "$0")/.."
KAFKA_VERSION="${DELEVERAGE_KAFKA_VERSION:-4.4.0}"
cache="${DELEVERAGE_KAFKA_CACHE:-$PWD/node_modules/.cache/kafka}/$KAFKA_VERSION"

fail() { echo "scripts/kafka.sh: $*" >&2; exit 1; }

fetch() {
  [[ -f "$cache/ok" ]] && return 0
  command -v mvn >/dev/null || fail "mvn not found: Maven fetches the broker's jars (apt-get install maven)"
  command -v java >/dev/null || fail "java not found: the broker needs OpenJDK 17 or later"
  mkdir -p "$cache"
  cat >"$cache/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>deleverage.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  echo "scripts/kafka.sh: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven" >&2
  (cd "$cache" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$cache/libs" \
    -DincludeScope=runtime >"$cache/mvn.log" 2>&1) \
    || fail "Maven could not fetch Kafka $KAFKA_VERSION (log: $cache/mvn.log): $(tail -5 "$cache/mvn.log")"
  touch "$cache/ok"
}

start() {
  local dir="$1" port="${2:-19092}"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local cport=$((port + 1))
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
# One partition each (not 50): the group and transaction coordinators load in a moment, so the
# first consumers join without "not the coordinator" restarts.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  local cp="$cache/libs/*"
  local java=(java -Xmx512m -Xms128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -cp "$cp")
  local id
  id="$("${java[@]}" kafka.tools.StorageTool random-uuid 2>"$dir/format.log")" \
    || fail "kafka-storage random-uuid failed: $(tail -5 "$dir/format.log")"
  "${java[@]}" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" --standalone \
    >>"$dir/format.log" 2>&1 || fail "formatting $dir failed: $(tail -5 "$dir/format.log")"
  nohup "${java[@]}" kafka.Kafka "$dir/server.properties" >"$dir/broker.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/pid"
  # Ready when the broker accepts connections on its port (the clients retry metadata after).
  local deadline=$((SECONDS + ${DELEVERAGE_KAFKA_START_SECONDS:-90}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || fail "the broker exited while starting: $(tail -20 "$dir/broker.log")"
    ((SECONDS < deadline)) || { kill "$pid" 2>/dev/null || true; fail "the broker did not listen on 127.0.0.1:$port in time: $(tail -20 "$dir/broker.log")"; }
    sleep 0.3
  done
  echo "pid=$pid port=$port"
}

stop() {
  local dir="$1" pid
  [[ -f "$dir/pid" ]] || return 0
  pid="$(cat "$dir/pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:?usage: kafka.sh start DIR [PORT]}" "${3:-19092}" ;;
  stop) stop "${2:?usage: kafka.sh stop DIR}" ;;
  *) fail "usage: kafka.sh fetch | start DIR [PORT] | stop DIR" ;;
esac
