# scripts/ports.sh — sourced by dovecot.sh and postgres.sh.
#
# free_ports N prints N distinct ports of 127.0.0.1 with no listener, below
# the kernel's ephemeral range: a port inside it may be the local end of a
# connection (in TIME_WAIT, say) that no probe sees but that makes a listen
# on it fail.
free_ports() {
  local n=$1 low p out=" " got=0
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  [ "$low" -gt 12000 ] || { echo "ephemeral range starts at $low: no room below it" >&2; return 1; }
  for _ in $(seq 1 500); do
    p=$(( RANDOM % (low - 11000) + 10000 ))
    case "$out" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      out="$out$p "
      got=$((got + 1))
      if [ "$got" -eq "$n" ]; then echo $out; return; fi
    fi
  done
  echo "no free port" >&2; return 1
}
