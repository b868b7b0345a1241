-- Run once by the postgres image on an empty data folder (docker-entrypoint-initdb.d).
-- POSTGRES_DB creates Airflow's metadata database; these are the platform's other two:
-- the sharing service's tokens and audit (EB_GOVERNANCE_DB_URL) and the case-handling front
-- database the relational sources are loaded from (EB_SOURCE_DB_URL).
CREATE DATABASE governance;
CREATE DATABASE case_system;
