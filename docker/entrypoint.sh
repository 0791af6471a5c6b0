#!/bin/sh
# Migrate the database named by CIVICPAY_DATABASE_URL, then serve on all interfaces.
# WEB_CONCURRENCY sets the number of uvicorn worker processes (default 1); extra arguments are
# passed to `civicpay serve` (e.g. `--port 9000`).
set -eu

civicpay db upgrade
exec civicpay serve --host 0.0.0.0 --workers "${WEB_CONCURRENCY:-1}" "$@"
