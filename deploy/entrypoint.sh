#!/bin/sh
# The container's entrypoint: migrate, then run the given `python -m bot` command.
#
# `python -m bot migrate` takes a lock around the upgrade (PostgreSQL: an advisory lock; SQLite: a
# lock file), so the bot and the worker starting at once migrate one after the other; the second
# finds the schema up to date. A failure stops here with its one line and exit code (2: a setting
# to fix, 1: the database cannot be reached), so the container restarts or stays down visibly.
set -eu
python -m bot migrate
exec python -m bot "$@"
