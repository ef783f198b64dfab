ALTER TABLE meta DROP COLUMN pruned_upto;
