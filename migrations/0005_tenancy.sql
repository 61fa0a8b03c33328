CREATE TABLE `repo_members` (
	`repo_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`role` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `repo_members_repo_user` ON `repo_members` (`repo_id`,`user_id`);--> statement-breakpoint
CREATE INDEX `repo_members_user` ON `repo_members` (`user_id`);--> statement-breakpoint
ALTER TABLE `tokens` ADD `scopes` text DEFAULT 'read,push' NOT NULL;