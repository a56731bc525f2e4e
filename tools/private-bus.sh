# tools/private-bus.sh — sourced by the scripts that need a private D-Bus
# bus (tools/run.sh, tests/cli/run.sh, tests/node/daemon.sh).
#
#   start_private_bus DIR   starts a session-type dbus-daemon that allows
#                           everything, listening in DIR; sets bus_pid and
#                           bus_address (returns 1 if it gave no address).

start_private_bus () {
  local dir=$1
  cat > "$dir/bus.conf" <<CONF
<busconfig>
  <type>session</type>
  <listen>unix:dir=$dir</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
  rm -f "$dir/bus.address"
  mkfifo "$dir/bus.address"
  dbus-daemon --config-file="$dir/bus.conf" --nofork --print-address=3 3>"$dir/bus.address" &
  bus_pid=$!
  bus_address=""
  read -r -t 10 bus_address < "$dir/bus.address" || return 1
  [ -n "$bus_address" ]
}
