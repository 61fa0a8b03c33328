CREATE TABLE `recorded_heads` (
	`repo_id` integer NOT NULL,
	`ref` text NOT NULL,
	`sha` text NOT NULL,
	`recorded_at` text NOT NULL,
	PRIMARY KEY(`repo_id`, `ref`),
	FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `repos` ADD `heads_tracked` integer DEFAULT true NOT NULL;--> statement-breakpoint
-- Repos made before this migration: their heads are taken as recorded at the first reconcile (nothing built again).
UPDATE `repos` SET `heads_tracked` = false;
