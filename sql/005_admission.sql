-- 005_admission: the proof of work a sale asks of each booking (docs/ADMISSION.md).
-- 0 asks nothing; otherwise the leading zero bits a challenge's solution must reach. Warmed
-- into Redis as fs:{sale:ID}:meta "pow", where book.lua enforces it.

ALTER TABLE sales
    ADD COLUMN pow_difficulty integer NOT NULL DEFAULT 0 CHECK (pow_difficulty BETWEEN 0 AND 28);
