ALTER TABLE `builds` ADD `owner` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `builds` ADD `not_before` text;--> statement-breakpoint
CREATE INDEX `builds_line` ON `builds` (`repo`,`ref_name`,`image`,`status`);--> statement-breakpoint
UPDATE `builds` SET `owner` = substr(`repo`, 1, instr(`repo`, '/') - 1) WHERE `owner` = '';