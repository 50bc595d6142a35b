#!/bin/sh
# hello.sh: greet the client, then answer each line until "quit" or EOF.
# The connection is stdin and stdout; portierd sets TCPREMOTEIP and friends.
greeting=${1:-Hello}
printf '%s You are %s, port %s.\n' "$greeting" "${TCPREMOTEIP:-?}" \
    "${TCPREMOTEPORT:-?}"
while IFS= read -r line; do
	line=${line%"$(printf '\r')"}
	[ "$line" = quit ] && break
	printf 'You said: %s\n' "$line"
done
printf 'Bye.\n'
