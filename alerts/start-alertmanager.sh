#!/bin/sh
# Start Alertmanager after checking that the Telegram secrets exist.
#
# Alertmanager reads bot_token_file only when it sends the first message, so
# a missing token would surface hours later as "Notify attempt failed" in a
# log nobody reads. This wrapper fails at startup instead, with the fix in the
# message. Usage: start-alertmanager.sh [alertmanager flags...]
# (--config.file as for alertmanager; ALERTMANAGER_BIN selects the binary).
# POSIX sh: also runs as the entrypoint of the busybox-based image.
set -eu

config="alertmanager.yml"
expect_config=0
for arg in "$@"; do
    if [ "${expect_config}" = 1 ]; then
        config="${arg}"
        expect_config=0
    fi
    case "${arg}" in
        --config.file=*) config="${arg#--config.file=}" ;;
        --config.file) expect_config=1 ;;
    esac
done

if [ ! -r "${config}" ]; then
    echo "botwatch: Alertmanager config ${config} not found or not readable" >&2
    exit 1
fi

# Every `bot_token_file:` / `telegram_bot_token_file:` value in the config.
token_files=$(sed -n "s/^[[:space:]-]*\(telegram_\)\{0,1\}bot_token_file:[[:space:]]*['\"]\{0,1\}\([^'\"#[:space:]]*\).*/\2/p" "${config}")
for token_file in ${token_files}; do
    if [ ! -s "${token_file}" ]; then
        echo "botwatch: Telegram bot token file ${token_file} (bot_token_file in ${config}) is missing or empty." >&2
        echo "botwatch: put the token from @BotFather in it, one line, e.g.: printf '%s' '123456:ABC...' > ${token_file}" >&2
        exit 1
    fi
done

exec "${ALERTMANAGER_BIN:-alertmanager}" "$@"
