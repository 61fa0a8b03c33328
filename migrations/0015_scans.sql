CREATE TABLE `image_findings` (
	`digest` text NOT NULL,
	`key` text NOT NULL,
	`finding` text NOT NULL,
	`first_seen` text NOT NULL,
	PRIMARY KEY(`digest`, `key`)
);
--> statement-breakpoint
CREATE INDEX `image_findings_first_seen` ON `image_findings` (`first_seen`);--> statement-breakpoint
CREATE TABLE `image_scans` (
	`digest` text PRIMARY KEY NOT NULL,
	`manifest` text NOT NULL,
	`matched_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
ALTER TABLE `builds` ADD `scan` text;