#!/usr/bin/env bash
# The secured profile's broker (apache/kafka image, KRaft, one node): clients reach it only over SASL_SSL with
# SCRAM-SHA-512 (kafka:9092 inside the compose network, localhost:29092 from the host), the StandardAuthorizer
# denies what no ACL allows, and the users of compose/secured/prepare.sh are created when the data volume is first
# formatted. Secrets are read from the files compose mounts under /run/secrets and never enter the environment.
set -euo pipefail
s=/run/secrets
conf=/tmp/server.properties
data=/var/lib/kafka/data
users=(admin duoguard-streams duoguard-trainer duoguard-operator duoguard-viewer duoguard-chat duoguard-feedback)

cat > "$conf" <<PROPERTIES
node.id=1
process.roles=broker,controller
# the controller listener is the only one without SASL; it listens on the container's loopback, for this process
# alone, and its principal (ANONYMOUS) must be a super user for the broker to talk to its own controller
controller.listener.names=CONTROLLER
controller.quorum.voters=1@localhost:9093
listeners=SASL_SSL://:9092,EXTERNAL://:29092,CONTROLLER://localhost:9093
advertised.listeners=SASL_SSL://kafka:9092,EXTERNAL://localhost:29092
listener.security.protocol.map=SASL_SSL:SASL_SSL,EXTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat $s/kafka-admin-password)";
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$s/kafka-keystore
ssl.keystore.password=$(cat $s/kafka-keystore-password)
ssl.key.password=$(cat $s/kafka-keystore-password)
# the broker is a client of itself too (transaction markers, as the admin, over SASL_SSL): it trusts the CA
ssl.truststore.type=PEM
ssl.truststore.location=$s/ca-cert
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
log.dirs=$data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPERTIES

# the admin's client settings, for the healthcheck and the init service
cat > /tmp/admin.properties <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat $s/kafka-admin-password)";
ssl.truststore.type=PEM
ssl.truststore.location=$s/ca-cert
PROPERTIES

scram=()
for u in "${users[@]}"; do
  scram+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(cat "$s/kafka-$u-password")]")
done
# formats only an empty data volume (the users are stored then); a formatted one is kept as it is (not with
# --ignore-formatted: a new cluster id would not match the stored one)
if [[ ! -f "$data/meta.properties" ]]; then
  /opt/kafka/bin/kafka-storage.sh format -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" -c "$conf" "${scram[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
