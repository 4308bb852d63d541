-- The schema mailhub 2a07d01 made (a new database), as SQLite stored it: sqlite3 DB .schema
CREATE TABLE groups (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	title VARCHAR NOT NULL, 
	description VARCHAR NOT NULL, 
	policy VARCHAR NOT NULL, 
	subject_prefix VARCHAR, 
	include_author BOOLEAN NOT NULL, 
	from_rewrite BOOLEAN NOT NULL, 
	join_policy VARCHAR NOT NULL, 
	rate_limit INTEGER NOT NULL, 
	new_member_moderation BOOLEAN NOT NULL, 
	who VARCHAR NOT NULL, 
	digest_daily VARCHAR, 
	digest_weekly VARCHAR, 
	timezone VARCHAR, 
	digest_quiet BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_groups_name ON groups (name);
CREATE TABLE members (
	id INTEGER NOT NULL, 
	group_id INTEGER NOT NULL, 
	email VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	role VARCHAR NOT NULL, 
	delivery VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	plain BOOLEAN NOT NULL, 
	moderated BOOLEAN NOT NULL, 
	new_member BOOLEAN NOT NULL, 
	organisation VARCHAR NOT NULL, 
	country VARCHAR NOT NULL, 
	bio VARCHAR NOT NULL, 
	timezone VARCHAR, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (group_id, email), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	UNIQUE (token)
);
CREATE INDEX ix_members_group_id ON members (group_id);
CREATE TABLE topics (
	id INTEGER NOT NULL, 
	group_id INTEGER NOT NULL, 
	"key" VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	subject_key VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_message_at DATETIME NOT NULL, 
	message_count INTEGER NOT NULL, 
	merged_into INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	UNIQUE ("key"), 
	FOREIGN KEY(merged_into) REFERENCES topics (id)
);
CREATE INDEX ix_topics_group_id ON topics (group_id);
CREATE INDEX ix_topics_group_subject ON topics (group_id, subject_key);
CREATE TABLE digest_issues (
	id INTEGER NOT NULL, 
	group_id INTEGER NOT NULL, 
	period VARCHAR NOT NULL, 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME NOT NULL, 
	zone VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	parts JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(group_id) REFERENCES groups (id)
);
CREATE INDEX ix_digest_issues_group_id ON digest_issues (group_id);
CREATE TABLE messages (
	id INTEGER NOT NULL, 
	group_id INTEGER NOT NULL, 
	channel VARCHAR NOT NULL, 
	address_token VARCHAR, 
	rcpt VARCHAR NOT NULL, 
	envelope_from VARCHAR NOT NULL, 
	message_id VARCHAR NOT NULL, 
	raw BLOB NOT NULL, 
	received_at DATETIME NOT NULL, 
	state VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	lease_until DATETIME, 
	from_addr VARCHAR NOT NULL, 
	from_name VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	body_text VARCHAR NOT NULL, 
	new_text VARCHAR NOT NULL, 
	thread_index VARCHAR NOT NULL, 
	attachments JSON NOT NULL, 
	topic_id INTEGER, 
	sent_at DATETIME, 
	posted_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (group_id, channel, message_id), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	FOREIGN KEY(topic_id) REFERENCES topics (id)
);
CREATE INDEX ix_messages_group_id ON messages (group_id);
CREATE INDEX ix_messages_topic ON messages (topic_id, id);
CREATE INDEX ix_messages_sender ON messages (group_id, from_addr, received_at);
CREATE INDEX ix_messages_posted ON messages (group_id, posted_at);
CREATE INDEX ix_messages_conversation ON messages (group_id, thread_index);
CREATE INDEX ix_messages_state ON messages (state, lease_until);
CREATE TABLE topic_prefs (
	id INTEGER NOT NULL, 
	member_id INTEGER NOT NULL, 
	topic_id INTEGER NOT NULL, 
	mode VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (member_id, topic_id), 
	FOREIGN KEY(member_id) REFERENCES members (id), 
	FOREIGN KEY(topic_id) REFERENCES topics (id)
);
CREATE INDEX ix_topic_prefs_topic ON topic_prefs (topic_id);
CREATE TABLE digest_marks (
	id INTEGER NOT NULL, 
	member_id INTEGER NOT NULL, 
	group_id INTEGER NOT NULL, 
	period VARCHAR NOT NULL, 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME NOT NULL, 
	issue_id INTEGER, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (member_id, ends_at), 
	FOREIGN KEY(member_id) REFERENCES members (id), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	FOREIGN KEY(issue_id) REFERENCES digest_issues (id)
);
CREATE INDEX ix_digest_marks_group ON digest_marks (group_id, ends_at);
CREATE TABLE message_refs (
	id INTEGER NOT NULL, 
	group_id INTEGER NOT NULL, 
	message_pk INTEGER NOT NULL, 
	ref_id VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (message_pk, ref_id), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	FOREIGN KEY(message_pk) REFERENCES messages (id)
);
CREATE INDEX ix_message_refs_ref ON message_refs (group_id, ref_id);
CREATE TABLE outbox (
	id INTEGER NOT NULL, 
	"key" VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	message_pk INTEGER, 
	digest_pk INTEGER, 
	member_id INTEGER, 
	group_id INTEGER NOT NULL, 
	recipient VARCHAR NOT NULL, 
	payload BLOB, 
	state VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	lease_until DATETIME, 
	last_error VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE ("key"), 
	FOREIGN KEY(message_pk) REFERENCES messages (id), 
	FOREIGN KEY(digest_pk) REFERENCES digest_issues (id), 
	FOREIGN KEY(member_id) REFERENCES members (id), 
	FOREIGN KEY(group_id) REFERENCES groups (id)
);
CREATE INDEX ix_outbox_message_pk ON outbox (message_pk);
CREATE INDEX ix_outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX ix_outbox_recipient ON outbox (recipient, created_at);
CREATE TABLE tokens (
	id INTEGER NOT NULL, 
	token VARCHAR NOT NULL, 
	group_id INTEGER NOT NULL, 
	purpose VARCHAR NOT NULL, 
	email VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	message_pk INTEGER, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (token), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	FOREIGN KEY(message_pk) REFERENCES messages (id)
);
CREATE INDEX ix_tokens_message_pk ON tokens (message_pk);
CREATE INDEX ix_tokens_group_id ON tokens (group_id)
;
