CREATE TABLE `vuln_packages` (
	`ecosystem` text NOT NULL,
	`name` text NOT NULL,
	`record_id` text NOT NULL,
	PRIMARY KEY(`ecosystem`, `name`, `record_id`),
	FOREIGN KEY (`record_id`) REFERENCES `vuln_records`(`id`) ON UPDATE no action ON DELETE cascade
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `vuln_packages_record` ON `vuln_packages` (`record_id`);--> statement-breakpoint
CREATE TABLE `vuln_records` (
	`id` text PRIMARY KEY NOT NULL,
	`ecosystem` text NOT NULL,
	`release` text,
	`modified` text NOT NULL,
	`withdrawn` text,
	`aliases` text NOT NULL,
	`record` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `vuln_records_ecosystem` ON `vuln_records` (`ecosystem`,`modified`);--> statement-breakpoint
CREATE TABLE `vuln_sources` (
	`ecosystem` text PRIMARY KEY NOT NULL,
	`records` integer NOT NULL,
	`newest_modified` text NOT NULL,
	`imported_at` text NOT NULL
);
