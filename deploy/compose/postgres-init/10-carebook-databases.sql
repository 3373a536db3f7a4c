-- Runs once, when the postgres container starts on an empty data volume
-- (docker-entrypoint-initdb.d). One database per service: a service never reads
-- another's tables (ARCHITECTURE.md, "Data ownership"). Services also create their
-- own database on first start; this makes the layout explicit and lets a new
-- service's database exist before its first deploy.
CREATE DATABASE carebook_identity;
CREATE DATABASE carebook_directory;
CREATE DATABASE carebook_scheduling;
CREATE DATABASE carebook_notifications;
CREATE DATABASE carebook_billing;
CREATE DATABASE carebook_records;
