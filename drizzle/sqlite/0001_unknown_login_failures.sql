CREATE TABLE `unknown_login_failures` (
	`email_digest` text PRIMARY KEY NOT NULL,
	`failures` integer NOT NULL,
	`last_failed_at` integer NOT NULL,
	`locked_until` integer,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `unknown_login_failures_expires_idx` ON `unknown_login_failures` (`expires_at`);