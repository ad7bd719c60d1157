-- Why a delivery took the route it took (e.g. "no recipient matched").
ALTER TABLE herald_delivery ADD COLUMN route_reason TEXT NOT NULL DEFAULT '';
