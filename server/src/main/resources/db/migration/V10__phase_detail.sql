-- What a phase says about how it ran, in one line for status (the MONGO phase: which encryption path the run used,
-- and why). Written by the phase while it runs; NULL when it said nothing.
ALTER TABLE ${silo_schema}.migration_phases ADD COLUMN IF NOT EXISTS detail text;
