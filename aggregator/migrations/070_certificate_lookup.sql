-- The certificate routes find a certificate by its id alone (GET /v1/certificates/{id}.pdf,
-- POST /v1/certificates/{id}:revoke): the primary key leads with user_id, so the id gets a plain
-- index of its own. Not unique: ids are random UUIDs, and a unique index could not be
-- distributed by learner on a sharded cluster (there the lookup fans out to every shard).
CREATE INDEX IF NOT EXISTS certificates_by_id ON certificates (certificate_id);
