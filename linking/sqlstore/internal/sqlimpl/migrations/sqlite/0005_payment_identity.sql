-- Identity per link for the payment models: the returns MID, the NSA
-- contract number shown to support, and further labelled locations (MIDs
-- and a sealed EPS account each), as JSON; and the location that pays a
-- label purchase. Rows written before this migration read with none of
-- them: their default MID, manifest MID and EPS account keep working.
ALTER TABLE nsalink_links ADD COLUMN returns_mid TEXT NOT NULL DEFAULT '';
ALTER TABLE nsalink_links ADD COLUMN nsa_contract TEXT NOT NULL DEFAULT '';
ALTER TABLE nsalink_links ADD COLUMN locations TEXT NOT NULL DEFAULT '';
ALTER TABLE nsalink_label_records ADD COLUMN location TEXT NOT NULL DEFAULT '';
