-- Databases made before 008 stored raw payloads as bytes: there `payload_b64` is a stored
-- column, and this gives them the same readable `payload` (computed from it). Where 008
-- already created `payload`, this does nothing.
ALTER TABLE raw_messages ADD COLUMN IF NOT EXISTS payload String DEFAULT base64Decode(payload_b64) CODEC(ZSTD(3)) AFTER payload_b64;
