CREATE TABLE `commit_statuses` (
	`build_id` integer PRIMARY KEY NOT NULL,
	`repo_id` integer NOT NULL,
	`sha` text NOT NULL,
	`ref` text NOT NULL,
	`context` text NOT NULL,
	`state` text NOT NULL,
	`description` text NOT NULL,
	`delivered_state` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`error` text,
	`next_attempt_at` text,
	`gave_up` integer DEFAULT false NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `commit_statuses_due` ON `commit_statuses` (`next_attempt_at`) WHERE next_attempt_at IS NOT NULL;--> statement-breakpoint
CREATE TABLE `upstreams` (
	`repo_id` integer PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`url_key` text NOT NULL,
	`forge` text NOT NULL,
	`api_url` text,
	`webhook_secret` text NOT NULL,
	`status_token` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`last_delivery_at` text,
	`last_delivery_result` text,
	`last_delivery_error` text,
	FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `upstreams_url_key` ON `upstreams` (`url_key`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`repo_id` integer NOT NULL,
	`delivery_id` text NOT NULL,
	`received_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`done_at` text,
	PRIMARY KEY(`repo_id`, `delivery_id`),
	FOREIGN KEY (`repo_id`) REFERENCES `repos`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_received` ON `webhook_deliveries` (`received_at`);