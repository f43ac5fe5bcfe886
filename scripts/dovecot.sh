#!/usr/bin/env bash
# scripts/dovecot.sh start DIR | stop DIR
#
# Starts (or stops) a private Dovecot for the real-server tests: loopback only,
# free high ports, its own state under DIR, a test CA and server certificate
# made at start, users from a passwd-file that tests may append to.
# On start it writes DIR/env with the MULTIDROP_DOVECOT_* variables the Go tests
# read (see internal/dovecottest).
set -euo pipefail
cmd=${1:?usage: dovecot.sh start|stop DIR}
dir=${2:?usage: dovecot.sh start|stop DIR}
here=$(cd "$(dirname "$0")/.." && pwd)

# shellcheck source=scripts/ports.sh
. "$(dirname "$0")/ports.sh"

case "$cmd" in
stop)
  if [ -f "$dir/dovecot.conf" ]; then
    dovecot -c "$dir/dovecot.conf" stop 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -e "$dir/run/master.pid" ] || break
      sleep 0.1
    done
  fi
  exit 0
  ;;
start) ;;
*) echo "usage: dovecot.sh start|stop DIR" >&2; exit 2 ;;
esac

command -v dovecot >/dev/null || { echo "dovecot is not installed" >&2; exit 1; }
mkdir -p "$dir"/{run,state,mail}
dir=$(cd "$dir" && pwd)
mail_uid=$(id -u mail); mail_gid=$(id -g mail)
chown "$mail_uid:$mail_gid" "$dir/mail"
chmod 0755 "$dir"

# Test CA and a server certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=multidrop test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$dir/ext.cnf"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>/dev/null
chmod 0644 "$dir/server.key"

: > "$dir/users"
chmod 0644 "$dir/users"

ports=$(free_ports 3)
read -r pop3 pop3s lmtp <<<"$ports"
sed -e "s#@DIR@#$dir#g" -e "s#@PORT_POP3@#$pop3#g" -e "s#@PORT_POP3S@#$pop3s#g" \
    -e "s#@PORT_LMTP@#$lmtp#g" -e "s#@MAIL_UID@#$mail_uid#g" -e "s#@MAIL_GID@#$mail_gid#g" \
    "$here/testdata/dovecot/dovecot.conf.in" > "$dir/dovecot.conf"

dovecot -c "$dir/dovecot.conf"
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/$pop3) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$lmtp) 2>/dev/null; then
    break
  fi
  sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/$pop3) 2>/dev/null || { echo "dovecot did not start; see $dir/dovecot.log" >&2; cat "$dir/dovecot.log" >&2 || true; exit 1; }

cat > "$dir/env" <<ENV
export MULTIDROP_DOVECOT_DIR=$dir
export MULTIDROP_DOVECOT_POP3=127.0.0.1:$pop3
export MULTIDROP_DOVECOT_POP3S=127.0.0.1:$pop3s
export MULTIDROP_DOVECOT_LMTP=127.0.0.1:$lmtp
export MULTIDROP_DOVECOT_LMTP_SOCKET=$dir/run/lmtp
export MULTIDROP_DOVECOT_CA=$dir/ca.pem
export MULTIDROP_DOVECOT_USERS=$dir/users
export MULTIDROP_DOVECOT_MAIL=$dir/mail
export MULTIDROP_DOVECOT_UID=$mail_uid
export MULTIDROP_DOVECOT_GID=$mail_gid
ENV
echo "dovecot: pop3 127.0.0.1:$pop3, pop3s 127.0.0.1:$pop3s, lmtp 127.0.0.1:$lmtp ($dir)"
