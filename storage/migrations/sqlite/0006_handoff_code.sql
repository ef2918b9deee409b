-- The code-bound validate mode: the redirect after sign-in carries a single-use code that
-- validate must present. Only the code's SHA-256 is stored (recorded at the claim); the app's
-- PKCE challenge (S256) is kept as given; code_spent_at makes the code single use.

ALTER TABLE handoffs ADD COLUMN code_hash BLOB CHECK (code_hash IS NULL OR length(code_hash) = 32);
ALTER TABLE handoffs ADD COLUMN code_challenge TEXT CHECK (code_challenge IS NULL OR length(code_challenge) = 43);
ALTER TABLE handoffs ADD COLUMN code_spent_at TEXT;
