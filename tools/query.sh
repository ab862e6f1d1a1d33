#!/usr/bin/env bash
# `make query`: runs $SQL against the ClickHouse of CLICKHOUSE_CONN (URL or .NET form), in its
# database, as the ingester would; with no CLICKHOUSE_CONN, against the local ClickHouse ($1) in
# `chakal`. DB overrides the database; PARAMS adds URL parameters (e.g. param_room_id=… for
# {room_id:UInt64}). The credentials reach curl on its standard input, never on a command line.
set -euo pipefail

local_url=${1:?usage: tools/query.sh LOCAL_CLICKHOUSE_URL}
conn=${CLICKHOUSE_CONN:-$local_url/chakal}
user=default password='' database=chakal

# Percent-decoding as the ingester does it (only %XX is special; backslashes are plain text).
decode() { python3 -c 'import sys, urllib.parse; sys.stdout.write(urllib.parse.unquote(sys.argv[1]))' "$1"; }
trim() {
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    printf '%s' "${s%"${s##*[![:space:]]}"}"
}

if [[ $conn == *://* ]]; then
    # http[s]://[user[:password]@]host[:port][/database]; user and password percent-encoded.
    scheme=$(tr '[:upper:]' '[:lower:]' <<<"${conn%%://*}")
    rest=${conn#*://}
    authority=${rest%%/*}
    path=''
    [[ $rest == */* ]] && path=${rest#*/}
    hostport=${authority##*@}
    if [[ $authority == *@* ]]; then
        userinfo=${authority%@*}
        user=$(decode "${userinfo%%:*}")
        [[ $userinfo == *:* ]] && password=$(decode "${userinfo#*:}")
    fi
    path=${path%%[?/]*}
    [[ -n $path ]] && database=$path
else
    # Host=…;Port=…;Username=…;Password=…;Database=…;Protocol=https (keys case-insensitive).
    scheme=http host='' port=''
    IFS=';' read -ra parts <<<"$conn"
    for part in "${parts[@]}"; do
        [[ $part == *=* ]] || continue
        key=$(tr -d '[:space:]' <<<"${part%%=*}" | tr '[:upper:]' '[:lower:]')
        value=$(trim "${part#*=}")
        case $key in
            host | server) host=$value ;;
            port) port=$value ;;
            username | user | userid | uid) user=$value ;;
            password | pwd) password=$value ;;
            database) database=$value ;;
            protocol) [[ ${value,,} == https ]] && scheme=https ;;
            usessl | ssl) [[ ${value,,} =~ ^(true|1|yes|on)$ ]] && scheme=https ;;
        esac
    done
    [[ $host == *:* && $host != \[* ]] && host="[$host]"
    hostport=$host${port:+:$port}
fi
if [[ -z $hostport || $hostport == :* ]]; then
    # The value is not echoed: it may hold a password.
    echo "invalid CLICKHOUSE_CONN: no host in it; use http[s]://user:password@host:port/database or Host=…;Port=…;Username=…;Password=…;Database=…" >&2
    exit 2
fi
[[ $hostport =~ :[0-9]+$ ]] || hostport+=":$([[ $scheme == https ]] && echo 8443 || echo 8123)"
[[ $user ]] || user=default
database=${DB:-$database}

quote() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}
printf 'header = %s\nheader = %s\n' \
    "$(quote "X-ClickHouse-User: $user")" "$(quote "X-ClickHouse-Key: $password")" |
    curl -sS --fail-with-body --globoff --config - --data-binary "$SQL" \
        "$scheme://$hostport/?database=$database${PARAMS:+&$PARAMS}"
