-- Scans per platform (issue 29): an index's every platform image is inventoried and matched, so image_scans and
-- image_findings gain `platform` in their keys. Every row before this migration is linux/amd64's: the scan read only
-- an index's linux/amd64 image, and the single-platform images it read were built on this amd64 stack.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_image_findings` (
	`digest` text NOT NULL,
	`platform` text NOT NULL,
	`key` text NOT NULL,
	`finding` text NOT NULL,
	`first_seen` text NOT NULL,
	PRIMARY KEY(`digest`, `platform`, `key`)
);
--> statement-breakpoint
INSERT INTO `__new_image_findings`("digest", "platform", "key", "finding", "first_seen") SELECT "digest", 'linux/amd64', "key", "finding", "first_seen" FROM `image_findings`;--> statement-breakpoint
DROP TABLE `image_findings`;--> statement-breakpoint
ALTER TABLE `__new_image_findings` RENAME TO `image_findings`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `image_findings_first_seen` ON `image_findings` (`first_seen`);--> statement-breakpoint
CREATE TABLE `__new_image_scans` (
	`digest` text NOT NULL,
	`platform` text NOT NULL,
	`manifest` text NOT NULL,
	`matched_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`digest`, `platform`)
);
--> statement-breakpoint
INSERT INTO `__new_image_scans`("digest", "platform", "manifest", "matched_at") SELECT "digest", 'linux/amd64', "manifest", "matched_at" FROM `image_scans`;--> statement-breakpoint
DROP TABLE `image_scans`;--> statement-breakpoint
ALTER TABLE `__new_image_scans` RENAME TO `image_scans`;