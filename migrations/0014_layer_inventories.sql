CREATE TABLE `image_inventories` (
	`digest` text PRIMARY KEY NOT NULL,
	`layers` text NOT NULL,
	`distro` text,
	`problems` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `layer_inventories` (
	`digest` text PRIMARY KEY NOT NULL,
	`inventory` text NOT NULL,
	`bytes` integer NOT NULL,
	`read_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
