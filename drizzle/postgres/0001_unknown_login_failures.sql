CREATE TABLE "unknown_login_failures" (
	"email_digest" text PRIMARY KEY NOT NULL,
	"failures" integer NOT NULL,
	"last_failed_at" timestamp (3) with time zone NOT NULL,
	"locked_until" timestamp (3) with time zone,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "unknown_login_failures_expires_idx" ON "unknown_login_failures" USING btree ("expires_at");