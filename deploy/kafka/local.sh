#!/usr/bin/env bash
# deploy/kafka/local.sh — run a real Apache Kafka broker (KRaft, single node)
# as a plain background process, for development and CI.
#
# Kafka is not downloaded from kafka.apache.org: the only network we can count
# on is Maven Central, so the broker is assembled from the published Maven
# artifacts (Maven verifies their checksums) and started with `java -cp`.
#
# Run `deploy/kafka/local.sh --help` for subcommands, flags and env vars.
set -euo pipefail

# ---------------------------------------------------------------------------
# Pinned versions. 4.3.1 is the newest 4.x whose artifacts all resolve from
# Maven Central (4.4.0's kafka_2.13 pom is published but kafka-tools /
# kafka-tools-api 4.4.0 are not, so 4.4.0 cannot be assembled).
# LOG4J_VERSION matches the log4j-core that kafka-server 4.3.1 depends on; we
# only add the slf4j 1.x -> log4j2 binding, which the Maven poms do not pull.
readonly KAFKA_VERSION="4.3.1"
readonly SCALA_BINARY="2.13"
readonly LOG4J_VERSION="2.25.4"
readonly DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
readonly MIN_JAVA=17

# Main classes in Kafka 4.x (checked against the 4.3.1 jars):
readonly MAIN_BROKER="kafka.Kafka"                    # kafka_2.13 (core)
readonly MAIN_STORAGE="kafka.tools.StorageTool"       # kafka_2.13 (core)
readonly MAIN_APIVERSIONS="org.apache.kafka.tools.BrokerApiVersionsCommand" # kafka-tools

readonly SCRIPT_NAME="${0##*/}"
readonly CACHE_ROOT="${HOME}/.cache/lifecycle"

# ---------------------------------------------------------------------------
usage() {
  cat <<EOF
Usage: ${SCRIPT_NAME} <command> [flags]

Runs a single-node Apache Kafka ${KAFKA_VERSION} broker (KRaft, combined
broker+controller, listening on 127.0.0.1 only) as a background java process.
Kafka is assembled from Maven Central artifacts on first use and cached.

Commands:
  start     Install Kafka if needed, format storage on first start, start the
            broker and wait until it answers metadata requests. Prints the
            bootstrap address. Already running: says so, re-checks that it
            answers, and exits 0.
  stop      SIGTERM the broker, wait up to the stop timeout, then SIGKILL.
            Already stopped: says so and exits 0.
  status    Print whether the broker is running. Exit 0 running, 3 not running.
  logs      Print the last lines of the broker log (-f / --follow to follow).
  env       Print 'export ...' lines for eval, e.g.
              eval "\$(${SCRIPT_NAME} env)"
            plaintext: LIFECYCLE_TEST_BROKERS=127.0.0.1:<port>
            --sasl:    LIFECYCLE_TEST_SASL_BROKERS, LIFECYCLE_TEST_SASL_MECHANISM,
                       LIFECYCLE_TEST_SASL_USER, LIFECYCLE_TEST_SASL_PASSWORD
  help      This text (also -h / --help).

A cluster of several brokers: start one as above, then each other broker
with --join the first's dir, a --node-id and a --dir and --port of its
own; each joins as a broker only (the first stays the controller). Stop
the joined brokers with the same flags, before the first.

Flags (any command; give the same mode/dir flags to start, stop, status...):
  --sasl               SASL mode: the client listener is SASL_PLAINTEXT with
                       SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN enabled; the user
                       is created when storage is formatted. Uses its own
                       directory and ports so both brokers can run at once.
  --dir DIR            Runtime directory (config, data, logs, pid).
  --port PORT          Client listener port.
  --controller-port P  KRaft controller listener port (default: port+1).
  --timeout SECONDS    start: how long to wait for readiness (default 90).
  --join DIR           start a broker-only node of the cluster whose first
                       broker runs in DIR (plaintext mode only); it takes
                       DIR's cluster id and controller.
  --node-id N          the joined broker's node id (2 or more, unique in the
                       cluster; default 2).
  -f, --follow         logs: follow the log (tail -F).
  -n, --lines N        logs: number of lines to print (default 100).

Environment (flags win over env vars):
  LIFECYCLE_KAFKA_HOME      Kafka install (jars) cache.
                            default: \$HOME/.cache/lifecycle/kafka-${KAFKA_VERSION}
  LIFECYCLE_KAFKA_SASL      1 = same as --sasl.                default: 0
  LIFECYCLE_KAFKA_JOIN      same as --join.
  LIFECYCLE_KAFKA_NODE_ID   same as --node-id.                 default: 2
  Plaintext mode:
  LIFECYCLE_KAFKA_DIR       runtime dir.   default: \$HOME/.cache/lifecycle/broker
  LIFECYCLE_KAFKA_PORT      client port.   default: 9092
  LIFECYCLE_KAFKA_CONTROLLER_PORT          default: client port + 1
  SASL mode (separate vars so both brokers can be configured side by side):
  LIFECYCLE_KAFKA_SASL_DIR  runtime dir.   default: \$HOME/.cache/lifecycle/broker-sasl
  LIFECYCLE_KAFKA_SASL_PORT client port.   default: 9094
  LIFECYCLE_KAFKA_SASL_CONTROLLER_PORT     default: client port + 1
  LIFECYCLE_KAFKA_SASL_USER      SASL user.      default: lifecycle
  LIFECYCLE_KAFKA_SASL_PASSWORD  SASL password.  default: lifecycle-secret
                            (fixed when storage is first formatted; to change
                            it later, stop the broker and delete its dir)
  Tuning:
  LIFECYCLE_KAFKA_START_TIMEOUT  readiness timeout, seconds.  default: 90
  LIFECYCLE_KAFKA_STOP_TIMEOUT   SIGTERM grace, seconds.      default: 30
  LIFECYCLE_KAFKA_HEAP_OPTS      broker heap.  default: -Xms256m -Xmx768m
  JAVA_HOME                 if set, \$JAVA_HOME/bin/java is used (Java >= ${MIN_JAVA}).

Files in the runtime dir:
  server.properties, log4j2.properties   regenerated on every start
  client.properties   client settings for Kafka's console tools
                      (--command-config); has the SASL login in SASL mode
  data/               KRaft metadata + topic data (formatted once; the cluster
                      id is kept in cluster.id)
  logs/server.log     broker log; logs/stdout.log has JVM output
  broker.pid          pid of the running broker

Requirements: Java ${MIN_JAVA}+; Maven ('mvn') with access to Maven Central, but
only for the first install.
EOF
}

# ---------------------------------------------------------------------------
# Small helpers.
die() { echo "${SCRIPT_NAME}: error: $*" >&2; exit 1; }
info() { echo "${SCRIPT_NAME}: $*" >&2; }

is_port_number() { [[ "$1" =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= 65535 )); }

# True if something accepts TCP connections on 127.0.0.1:$1. Uses bash's
# /dev/tcp so we need neither nc nor ss.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------
# Configuration from flags and env vars.
COMMAND=""
SASL="${LIFECYCLE_KAFKA_SASL:-0}"
OPT_DIR=""
OPT_PORT=""
OPT_CONTROLLER_PORT=""
JOIN_DIR="${LIFECYCLE_KAFKA_JOIN:-}"
NODE_ID="${LIFECYCLE_KAFKA_NODE_ID:-2}"
START_TIMEOUT="${LIFECYCLE_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${LIFECYCLE_KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${LIFECYCLE_KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
LOG_FOLLOW=0
LOG_LINES=100
KAFKA_HOME="${LIFECYCLE_KAFKA_HOME:-${CACHE_ROOT}/kafka-${KAFKA_VERSION}}"

parse_args() {
  while (( $# > 0 )); do
    case "$1" in
      -h|--help|help) COMMAND="help" ;;
      --sasl) SASL=1 ;;
      --dir) (( $# >= 2 )) || die "--dir needs a value"; OPT_DIR="$2"; shift ;;
      --dir=*) OPT_DIR="${1#*=}" ;;
      --port) (( $# >= 2 )) || die "--port needs a value"; OPT_PORT="$2"; shift ;;
      --port=*) OPT_PORT="${1#*=}" ;;
      --controller-port) (( $# >= 2 )) || die "--controller-port needs a value"; OPT_CONTROLLER_PORT="$2"; shift ;;
      --controller-port=*) OPT_CONTROLLER_PORT="${1#*=}" ;;
      --join) (( $# >= 2 )) || die "--join needs a value"; JOIN_DIR="$2"; shift ;;
      --join=*) JOIN_DIR="${1#*=}" ;;
      --node-id) (( $# >= 2 )) || die "--node-id needs a value"; NODE_ID="$2"; shift ;;
      --node-id=*) NODE_ID="${1#*=}" ;;
      --timeout) (( $# >= 2 )) || die "--timeout needs a value"; START_TIMEOUT="$2"; shift ;;
      --timeout=*) START_TIMEOUT="${1#*=}" ;;
      -f|--follow) LOG_FOLLOW=1 ;;
      -n|--lines) (( $# >= 2 )) || die "--lines needs a value"; LOG_LINES="$2"; shift ;;
      --lines=*) LOG_LINES="${1#*=}" ;;
      start|stop|status|logs|env)
        [[ -z "$COMMAND" || "$COMMAND" == "help" ]] || die "only one command allowed (got '$COMMAND' and '$1')"
        [[ "$COMMAND" == "help" ]] || COMMAND="$1" ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
  done
  [[ -n "$COMMAND" ]] || { usage >&2; exit 2; }
  [[ "$COMMAND" == "help" ]] && return 0

  case "$SASL" in 1|true|yes) SASL=1 ;; 0|false|no|"") SASL=0 ;; *) die "LIFECYCLE_KAFKA_SASL must be 0 or 1" ;; esac

  # Each mode has its own defaults so a plaintext and a SASL broker can run
  # side by side without any flags.
  local env_dir env_port env_cport default_dir default_port
  if (( SASL )); then
    env_dir="${LIFECYCLE_KAFKA_SASL_DIR:-}"; env_port="${LIFECYCLE_KAFKA_SASL_PORT:-}"
    env_cport="${LIFECYCLE_KAFKA_SASL_CONTROLLER_PORT:-}"
    default_dir="${CACHE_ROOT}/broker-sasl"; default_port=9094
  else
    env_dir="${LIFECYCLE_KAFKA_DIR:-}"; env_port="${LIFECYCLE_KAFKA_PORT:-}"
    env_cport="${LIFECYCLE_KAFKA_CONTROLLER_PORT:-}"
    default_dir="${CACHE_ROOT}/broker"; default_port=9092
  fi
  DIR="${OPT_DIR:-${env_dir:-$default_dir}}"
  PORT="${OPT_PORT:-${env_port:-$default_port}}"
  is_port_number "$PORT" || die "invalid port '$PORT'"
  CONTROLLER_PORT="${OPT_CONTROLLER_PORT:-${env_cport:-$((PORT + 1))}}"
  is_port_number "$CONTROLLER_PORT" || die "invalid controller port '$CONTROLLER_PORT'"
  [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "client and controller ports must differ"
  [[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "invalid timeout '$START_TIMEOUT'"
  [[ "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] || die "invalid LIFECYCLE_KAFKA_STOP_TIMEOUT '$STOP_TIMEOUT'"
  [[ "$LOG_LINES" =~ ^[0-9]+$ ]] || die "invalid --lines '$LOG_LINES'"

  # Absolute paths: the broker runs detached and the pid check matches on them.
  [[ "$DIR" == /* ]] || DIR="$PWD/$DIR"
  if [[ -n "$JOIN_DIR" ]]; then
    (( ! SASL )) || die "--join works in plaintext mode only"
    [[ "$JOIN_DIR" == /* ]] || JOIN_DIR="$PWD/$JOIN_DIR"
    [[ "$JOIN_DIR" != "$DIR" ]] || die "--join names the first broker's dir; give this broker a --dir of its own"
    [[ "$NODE_ID" =~ ^[0-9]+$ ]] && (( NODE_ID >= 2 )) || die "--node-id must be a number of 2 or more (1 is the first broker's)"
  fi
  [[ "$KAFKA_HOME" == /* ]] || KAFKA_HOME="$PWD/$KAFKA_HOME"

  SASL_USER="${LIFECYCLE_KAFKA_SASL_USER:-lifecycle}"
  SASL_PASSWORD="${LIFECYCLE_KAFKA_SASL_PASSWORD:-lifecycle-secret}"
  if (( SASL )); then
    # The credentials end up inside JAAS strings and the storage tool's
    # 'SCRAM-SHA-512=[name=...,password=...]' syntax; keep them to characters
    # that need no quoting in either.
    [[ "$SASL_USER" =~ ^[A-Za-z0-9._@+-]+$ ]] || die "LIFECYCLE_KAFKA_SASL_USER may only contain A-Z a-z 0-9 . _ @ + -"
    [[ "$SASL_PASSWORD" =~ ^[A-Za-z0-9._@+:/~!#%^*?-]+$ ]] || die "LIFECYCLE_KAFKA_SASL_PASSWORD may only contain A-Z a-z 0-9 and . _ @ + : / ~ ! # % ^ * ? -"
  fi

  BOOTSTRAP="127.0.0.1:${PORT}"
  PID_FILE="${DIR}/broker.pid"
  LOG_FILE="${DIR}/logs/server.log"
  LIBS="${KAFKA_HOME}/libs"
}

# ---------------------------------------------------------------------------
# Java / Maven / install.
JAVA=""
find_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
    JAVA="${JAVA_HOME}/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA="$(command -v java)"
  else
    die "java not found: Kafka ${KAFKA_VERSION} needs Java ${MIN_JAVA} or newer (install e.g. openjdk-17-jre-headless, or set JAVA_HOME)"
  fi
  # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (or
  # "1.8.0_392" for Java 8) on stderr.
  local line version major
  line="$("$JAVA" -version 2>&1 | head -n 1)" || true
  version="$(sed -n 's/.*version "\([^"]*\)".*/\1/p' <<<"$line")"
  [[ -n "$version" ]] || die "could not determine Java version from: $line"
  if [[ "$version" == 1.* ]]; then major="$(cut -d. -f2 <<<"$version")"; else major="${version%%[.+-]*}"; fi
  [[ "$major" =~ ^[0-9]+$ ]] || die "could not parse Java version '$version'"
  (( major >= MIN_JAVA )) || die "Java $version at $JAVA is too old: Kafka ${KAFKA_VERSION} needs Java ${MIN_JAVA} or newer (set JAVA_HOME to a newer JDK)"
}

# The classpath the broker and tools run with.
classpath() { printf '%s/*' "$LIBS"; }

installed() { [[ -f "${KAFKA_HOME}/.installed" && "$(cat "${KAFKA_HOME}/.installed")" == "$KAFKA_VERSION" ]]; }

# Writes the throwaway pom whose only job is to make Maven resolve Kafka and
# its whole runtime dependency tree.
write_install_pom() {
  cat >"$1/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/kafka/local.sh: resolves an Apache Kafka broker and
     its tools from Maven Central. Not a build; only copy-dependencies runs. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lifecycle.local</groupId>
  <artifactId>kafka-broker-install</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- core: kafka.Kafka (broker main) and kafka.tools.StorageTool -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_BINARY}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- console producer/consumer, TopicCommand, BrokerApiVersionsCommand -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- Kafka logs through slf4j 1.7; without a binding nothing is logged.
         log4j-core/api come in via kafka-server. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
}

install_kafka() {
  installed && return 0
  if [[ -e "$KAFKA_HOME" ]] && [[ -n "$(ls -A "$KAFKA_HOME" 2>/dev/null)" ]]; then
    die "$KAFKA_HOME exists but is not a complete Kafka ${KAFKA_VERSION} install made by this script; remove it or point LIFECYCLE_KAFKA_HOME elsewhere"
  fi
  command -v mvn >/dev/null 2>&1 || die "Maven ('mvn') not found: it is needed once to fetch Kafka ${KAFKA_VERSION} from Maven Central into $KAFKA_HOME (install e.g. the 'maven' package)"

  mkdir -p "$(dirname "$KAFKA_HOME")"
  # Serialise concurrent installs (e.g. parallel CI jobs) on a lock next to
  # the install dir; fd 8 is closed for the broker so it never holds it.
  exec 8>"${KAFKA_HOME}.lock"
  if command -v flock >/dev/null 2>&1; then flock -w 600 8 || die "timed out waiting for another install into $KAFKA_HOME"; fi
  if installed; then exec 8>&-; return 0; fi

  info "installing Apache Kafka ${KAFKA_VERSION} from Maven Central into $KAFKA_HOME (one time) ..."
  # Build in a temp dir next to the target and rename at the end, so an
  # interrupted install never looks complete.
  local tmp
  tmp="$(mktemp -d "${KAFKA_HOME}.tmp.XXXXXX")"
  write_install_pom "$tmp"
  # -C: fail on checksum mismatch instead of warning. -B: no progress bars.
  if ! (cd "$tmp" && mvn -B -C -q -Dstyle.color=never "${DEPENDENCY_PLUGIN}:copy-dependencies" \
          -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1); then
    tail -n 30 "$tmp/mvn.log" >&2 || true
    local log="${KAFKA_HOME}.mvn-failure.log"
    cp "$tmp/mvn.log" "$log" 2>/dev/null || true
    rm -rf "$tmp"
    die "Maven could not resolve org.apache.kafka:kafka_${SCALA_BINARY}:${KAFKA_VERSION} and its dependencies. This needs access to Maven Central (https://repo.maven.apache.org, or a mirror in ~/.m2/settings.xml). Full Maven output: $log"
  fi
  [[ -f "$tmp/libs/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar" ]] || { rm -rf "$tmp"; die "Maven finished but kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar is missing"; }
  rm -f "${KAFKA_HOME}.mvn-failure.log"
  echo "$KAFKA_VERSION" >"$tmp/.installed"
  [[ -d "$KAFKA_HOME" ]] && rmdir "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
  exec 8>&-
  info "installed $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) into $LIBS"
}

# ---------------------------------------------------------------------------
# Process tracking. A pid file alone is not trusted (pids get reused): the
# process must also be a java running kafka.Kafka on *this* dir's config.
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *" ${MAIN_BROKER} ${DIR}/server.properties"* ]] || return 1
  echo "$pid"
}

# kill -0 also succeeds for a zombie, which is what a broker we launched in
# this very script turns into until we exit; treat that as dead.
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)"
  [[ "$state" != "Z" ]]
}

# Takes the per-dir lock so two start/stop calls on the same broker don't race.
lock_dir() {
  mkdir -p "$DIR"
  exec 9>"${DIR}/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 300 9 || die "timed out waiting for another ${SCRIPT_NAME} on $DIR"
  fi
}

# The java command line for Kafka's own command-line tools: a small,
# fast-starting JVM on the installed jars, logging only WARN+ to stderr.
# An array (not a function) so it can also be run under `timeout`.
tool_java() {
  TOOL_JAVA=("$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="${DIR}/tools-log4j2.properties" -cp "$(classpath)")
}
kafka_tool() { tool_java; "${TOOL_JAVA[@]}" "$@"; }

# ---------------------------------------------------------------------------
# Config files.
write_server_properties() {
  local f="${DIR}/server.properties"
  {
    cat <<EOF
# Generated by deploy/kafka/local.sh on every start; edits are overwritten.
EOF
    if [[ -n "$JOIN_DIR" ]]; then
      cat <<EOF
# A broker joining the cluster whose controller runs with ${JOIN_DIR}.
process.roles=broker
node.id=${NODE_ID}
$(grep '^controller.quorum.voters=' "${JOIN_DIR}/server.properties")
EOF
    else
      cat <<EOF
# Single node, KRaft combined mode: this process is broker and controller.
process.roles=broker,controller
node.id=1
# Static quorum (rather than --standalone dynamic quorum) so the controller
# port can be changed between starts without re-formatting.
controller.quorum.voters=1@127.0.0.1:${CONTROLLER_PORT}
EOF
    fi
    cat <<EOF
controller.listener.names=CONTROLLER
log.dirs=${DIR}/data

# Topic defaults for a one-node cluster. Our product creates its topics
# explicitly, so auto creation stays off to catch missing-topic bugs.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests should not wait 3 s for the first consumer group rebalance.
group.initial.rebalance.delay.ms=0

# Small machine: few threads are plenty.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
    if (( SASL )); then
      cat <<EOF

# SASL mode: clients authenticate on SASL_PLAINTEXT (no TLS; loopback only).
# SCRAM users live in the cluster metadata and were created when storage was
# formatted (StorageTool --add-scram). PLAIN checks the user_<name> entries
# below. The controller listener stays PLAINTEXT on loopback.
listeners=SASL_PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:${PORT}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
# Inter-broker traffic (to itself) uses PLAIN: it does not depend on metadata.
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${SASL_USER}" password="${SASL_PASSWORD}" user_${SASL_USER}="${SASL_PASSWORD}";
EOF
    elif [[ -n "$JOIN_DIR" ]]; then
      cat <<EOF

listeners=PLAINTEXT://127.0.0.1:${PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
    else
      cat <<EOF

listeners=PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
    fi
  } >"$f"
  chmod 600 "$f"
}

# Client settings for Kafka's console tools and for our own readiness check.
write_client_properties() {
  local f="${DIR}/client.properties"
  {
    echo "# Generated by deploy/kafka/local.sh. Use with the Kafka tools' --command-config."
    echo "bootstrap.servers=${BOOTSTRAP}"
    if (( SASL )); then
      echo "security.protocol=SASL_PLAINTEXT"
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"${SASL_USER}\" password=\"${SASL_PASSWORD}\";"
    else
      echo "security.protocol=PLAINTEXT"
    fi
    # Fail fast instead of retrying for a minute when the broker is not up.
    echo "request.timeout.ms=5000"
    echo "default.api.timeout.ms=10000"
  } >"$f"
  chmod 600 "$f"
}

# Kafka 4.x logs via log4j2 (Kafka's own log4j2.yaml would need the yaml
# config factory wiring; a properties file needs nothing extra).
write_log4j_configs() {
  cat >"${DIR}/log4j2.properties" <<EOF
# Generated by deploy/kafka/local.sh. Broker logging: one size-capped file.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${DIR}/logs/server.log
appender.file.filePattern = ${DIR}/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-request state-change chatter is noise for a dev broker.
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
  cat >"${DIR}/tools-log4j2.properties" <<EOF
# Generated by deploy/kafka/local.sh. Kafka command-line tools: warnings to stderr.
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
EOF
}

# What a formatted dir was formatted for: the mode, and (SASL) a hash of the
# credentials, since SCRAM users are written into the metadata at format time.
dir_mode() { if (( SASL )); then echo sasl; else echo plaintext; fi; }
cred_hash() { printf '%s:%s' "$SASL_USER" "$SASL_PASSWORD" | sha256sum | cut -d' ' -f1; }

# Refuses to start a formatted dir with another mode or other SASL
# credentials than it was formatted with. Runs before any file is rewritten.
check_formatted_dir() {
  local mode_file="${DIR}/.mode" mode cred_file="${DIR}/.sasl-credentials"
  mode="$(dir_mode)"
  if [[ -f "${DIR}/data/meta.properties" ]]; then
    # A dir formatted for the other mode has no SCRAM users (or has users
    # nobody uses); say so rather than start a broker clients cannot use.
    if [[ -f "$mode_file" && "$(cat "$mode_file")" != "$mode" ]]; then
      die "$DIR was formatted for $(cat "$mode_file") mode, not $mode; use another --dir (or stop it and delete $DIR)"
    fi
    if (( SASL )) && [[ -f "$cred_file" && "$(cat "$cred_file")" != "$(cred_hash)" ]]; then
      die "SASL user/password differ from the ones $DIR was formatted with (SCRAM users are created at format time); use the original ones, or stop the broker and delete $DIR to re-format"
    fi
  fi
}

# Formats the KRaft storage once. The cluster id is generated on the first
# start and kept in cluster.id; meta.properties marks a formatted dir.
format_storage_once() {
  [[ -f "${DIR}/data/meta.properties" ]] && return 0
  local cluster_id
  if [[ -n "$JOIN_DIR" ]]; then
    [[ -s "${JOIN_DIR}/cluster.id" ]] || die "${JOIN_DIR} holds no cluster.id: start the first broker there before joining it"
    cluster_id="$(cat "${JOIN_DIR}/cluster.id")"
    echo "$cluster_id" >"${DIR}/cluster.id"
  elif [[ -s "${DIR}/cluster.id" ]]; then
    cluster_id="$(cat "${DIR}/cluster.id")"
  else
    cluster_id="$(kafka_tool "$MAIN_STORAGE" random-uuid)"
    echo "$cluster_id" >"${DIR}/cluster.id"
  fi
  local args=(format --config "${DIR}/server.properties" --cluster-id "$cluster_id")
  if (( SASL )); then
    args+=(--add-scram "SCRAM-SHA-512=[name=${SASL_USER},password=${SASL_PASSWORD}]"
           --add-scram "SCRAM-SHA-256=[name=${SASL_USER},password=${SASL_PASSWORD}]")
  fi
  info "formatting KRaft storage in ${DIR}/data (cluster id $cluster_id)"
  local out
  if ! out="$(kafka_tool "$MAIN_STORAGE" "${args[@]}" 2>&1)"; then
    echo "$out" >&2
    die "formatting storage failed"
  fi
  dir_mode >"${DIR}/.mode"
  if (( SASL )); then cred_hash >"${DIR}/.sasl-credentials"; chmod 600 "${DIR}/.sasl-credentials"; fi
}

# ---------------------------------------------------------------------------
# Readiness: the broker must answer real requests. BrokerApiVersionsCommand
# sends a Metadata request to find the brokers and then ApiVersions to each,
# authenticating with client.properties in SASL mode. A bare TCP connect is
# not enough: the socket opens before the broker has caught up on metadata.
wait_until_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  tool_java
  while (( SECONDS < deadline )); do
    if ! pid_alive "$pid"; then
      print_failure_logs
      die "broker process $pid exited during startup"
    fi
    if port_open "$PORT" && timeout 30 "${TOOL_JAVA[@]}" "$MAIN_APIVERSIONS" \
         --bootstrap-server "$BOOTSTRAP" --command-config "${DIR}/client.properties" >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  print_failure_logs
  # Don't leave a half-started broker behind: a later `start` would find it
  # "already running" and the failure would resurface somewhere less obvious.
  info "broker not ready within ${START_TIMEOUT}s; stopping it"
  stop_pid "$pid"
  die "broker did not become ready within ${START_TIMEOUT}s (full log: ${LOG_FILE})"
}

print_failure_logs() {
  echo "----- last 40 lines of ${LOG_FILE} -----" >&2
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || echo "(no log yet)" >&2
  if [[ -s "${DIR}/logs/stdout.log" ]]; then
    echo "----- last 20 lines of ${DIR}/logs/stdout.log -----" >&2
    tail -n 20 "${DIR}/logs/stdout.log" >&2
  fi
  echo "-----" >&2
}

# ---------------------------------------------------------------------------
# Subcommands.
cmd_start() {
  find_java
  install_kafka
  lock_dir
  # Before anything else (even "already running"): a caller expecting other
  # credentials or another mode than the dir has would otherwise get a broker
  # it cannot use.
  check_formatted_dir

  local pid
  if pid="$(broker_pid)"; then
    # Still confirm it answers, so `start` is a reliable "ensure a ready
    # broker" step for CI even if an earlier start was interrupted.
    info "already running (pid $pid, dir $DIR)"
    wait_until_ready "$pid"
    echo "$BOOTSTRAP"
    return 0
  fi
  rm -f "$PID_FILE"

  # A foreign process on our ports would make the broker die with a bind
  # error buried in its log; catch it up front with a clear message.
  local p ports=("$PORT")
  [[ -n "$JOIN_DIR" ]] || ports+=("$CONTROLLER_PORT")
  for p in "${ports[@]}"; do
    if port_open "$p"; then
      die "port $p on 127.0.0.1 is already in use by another process; choose others with --port / --controller-port (or the env vars in --help)"
    fi
  done

  mkdir -p "${DIR}/data" "${DIR}/logs"
  write_server_properties
  write_client_properties
  write_log4j_configs
  format_storage_once

  local role="controller 127.0.0.1:${CONTROLLER_PORT}"
  [[ -z "$JOIN_DIR" ]] || role="node ${NODE_ID}, joining the cluster of ${JOIN_DIR}"
  info "starting Kafka ${KAFKA_VERSION} ($( (( SASL )) && echo "SASL_PLAINTEXT" || echo "PLAINTEXT") on ${BOOTSTRAP}, ${role}, dir ${DIR})"
  # setsid: detach from our session/process group so the broker outlives the
  # terminal or CI step that started it (stop it with 'stop'). The inner shell
  # writes its own pid and then execs java, so the pid file is java's pid
  # even if setsid had to fork. fds 8/9 (our locks) are closed for the child.
  local launched_at=$SECONDS launcher=() heap=()
  # HEAP_OPTS is a space-separated list of JVM flags, like KAFKA_HEAP_OPTS.
  read -r -a heap <<<"$HEAP_OPTS"
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)
  # shellcheck disable=SC2016  # $$ and "$@" are expanded by the inner shell
  "${launcher[@]}" bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
    "$JAVA" "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="${DIR}/log4j2.properties" \
    -Dkafka.logs.dir="${DIR}/logs" \
    -cp "$(classpath)" "$MAIN_BROKER" "${DIR}/server.properties" \
    </dev/null >"${DIR}/logs/stdout.log" 2>&1 8>&- 9>&- &

  # Wait for the pid file the inner shell writes (normally instant).
  local _
  for _ in $(seq 1 50); do [[ -s "$PID_FILE" ]] && break; sleep 0.1; done
  pid="$(cat "$PID_FILE" 2>/dev/null)" || die "broker did not start (no pid file)"

  wait_until_ready "$pid"
  info "ready after $((SECONDS - launched_at))s: Kafka ${KAFKA_VERSION}, pid $pid"
  if (( SASL )); then
    info "SASL_PLAINTEXT, mechanism SCRAM-SHA-512 (also SCRAM-SHA-256, PLAIN), user '${SASL_USER}'; client settings in ${DIR}/client.properties"
  fi
  echo "$BOOTSTRAP"
}

# SIGTERM lets Kafka shut down cleanly (flush logs, write the clean-shutdown
# marker so the next start skips log recovery); SIGKILL only if it hangs.
stop_pid() {
  local pid="$1" deadline=$((SECONDS + STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid" && (( SECONDS < deadline )); do sleep 0.5; done
  if pid_alive "$pid"; then
    info "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$pid"; do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
}

cmd_stop() {
  lock_dir
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    info "not running (dir $DIR)"
    return 0
  fi
  info "stopping broker pid $pid (SIGTERM, up to ${STOP_TIMEOUT}s) ..."
  stop_pid "$pid"
  rm -f "$PID_FILE"
  info "stopped"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    echo "running: pid $pid, Kafka ${KAFKA_VERSION}, bootstrap ${BOOTSTRAP}$( (( SASL )) && echo " (SASL_PLAINTEXT)"), dir ${DIR}"
    return 0
  fi
  echo "not running (dir ${DIR})"
  return 3
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || die "no broker log at $LOG_FILE (never started with this dir?)"
  if (( LOG_FOLLOW )); then
    exec tail -n "$LOG_LINES" -F "$LOG_FILE"
  fi
  tail -n "$LOG_LINES" "$LOG_FILE"
}

cmd_env() {
  # printf %q so the output is safe to eval whatever the values contain.
  if (( SASL )); then
    printf 'export LIFECYCLE_TEST_SASL_BROKERS=%q\n' "$BOOTSTRAP"
    printf 'export LIFECYCLE_TEST_SASL_MECHANISM=%q\n' "SCRAM-SHA-512"
    printf 'export LIFECYCLE_TEST_SASL_USER=%q\n' "$SASL_USER"
    printf 'export LIFECYCLE_TEST_SASL_PASSWORD=%q\n' "$SASL_PASSWORD"
  else
    printf 'export LIFECYCLE_TEST_BROKERS=%q\n' "$BOOTSTRAP"
  fi
}

main() {
  parse_args "$@"
  case "$COMMAND" in
    help) usage ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    logs) cmd_logs ;;
    env) cmd_env ;;
  esac
}

main "$@"
