CREATE TABLE `image_manifests` (
	`repository` text NOT NULL,
	`digest` text NOT NULL,
	`media_type` text NOT NULL,
	`children` text DEFAULT '[]' NOT NULL,
	`tombstone` integer DEFAULT false NOT NULL,
	`seen_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`repository`, `digest`)
);
--> statement-breakpoint
CREATE TABLE `image_tags` (
	`repository` text NOT NULL,
	`tag` text NOT NULL,
	`digest` text NOT NULL,
	`owner` text NOT NULL,
	`build_id` integer,
	`pushed_at` text NOT NULL,
	PRIMARY KEY(`repository`, `tag`)
);
--> statement-breakpoint
CREATE INDEX `image_tags_owner` ON `image_tags` (`owner`);--> statement-breakpoint
CREATE INDEX `image_tags_digest` ON `image_tags` (`repository`,`digest`);--> statement-breakpoint
CREATE INDEX `image_tags_build` ON `image_tags` (`build_id`);--> statement-breakpoint
CREATE TABLE `manifest_blobs` (
	`repository` text NOT NULL,
	`manifest` text NOT NULL,
	`blob` text NOT NULL,
	`size` integer NOT NULL,
	PRIMARY KEY(`repository`, `manifest`, `blob`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `ref_deletions` (
	`repo_id` integer NOT NULL,
	`ref` text NOT NULL,
	`deleted_at` text NOT NULL,
	PRIMARY KEY(`repo_id`, `ref`),
	FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `registry_locks` (
	`repository` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires_at` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `builds` ADD `log_expired_at` text;--> statement-breakpoint
CREATE INDEX `builds_digest` ON `builds` (`digest`);--> statement-breakpoint
CREATE INDEX `builds_log_kept` ON `builds` (`finished_at`) WHERE log_expired_at IS NULL;--> statement-breakpoint
ALTER TABLE `repos` ADD `retention_keep` integer;--> statement-breakpoint
ALTER TABLE `repos` ADD `retention_days` integer;--> statement-breakpoint
ALTER TABLE `users` ADD `quota_bytes` integer;