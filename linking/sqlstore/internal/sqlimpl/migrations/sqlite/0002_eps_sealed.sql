-- The EPS account number pays postage: the flow stores it sealed like the
-- tokens. eps_sealed holds the sealed number; eps_account is then ''.
-- Rows written before this migration keep their clear eps_account until
-- their next write (or linking.RewrapAll) seals it.
ALTER TABLE nsalink_links ADD COLUMN eps_sealed BLOB;
