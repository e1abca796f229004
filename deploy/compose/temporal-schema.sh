#!/bin/sh
# Create Temporal's two PostgreSQL databases if missing, then bring their schemas to this
# server version (idempotent: an up-to-date schema is left alone). Runs in Temporal's
# admin-tools image before the server starts; SQL_PASSWORD comes from compose.yaml.
set -eu
host=postgresql
port=5432
user=temporal
until nc -z "$host" "$port"; do sleep 1; done
schemas=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  case $db in
    temporal) dir=$schemas/temporal/versioned ;;
    *) dir=$schemas/visibility/versioned ;;
  esac
  temporal-sql-tool --plugin postgres12 --ep "$host" -p "$port" -u "$user" --db "$db" create \
    || echo "database $db exists"
  temporal-sql-tool --plugin postgres12 --ep "$host" -p "$port" -u "$user" --db "$db" \
    setup-schema -v 0.0 || echo "schema of $db already set up"
  temporal-sql-tool --plugin postgres12 --ep "$host" -p "$port" -u "$user" --db "$db" \
    update-schema -d "$dir"
done
echo "Temporal schemas are up to date"
