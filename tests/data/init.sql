-- Example init script for tests: extensions the app expects.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
