-- The schema mailhub 523fe26 made (a new database), as SQLite stored it: sqlite3 DB .schema
CREATE TABLE groups (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	title VARCHAR NOT NULL, 
	description VARCHAR NOT NULL, 
	policy VARCHAR NOT NULL, 
	subject_prefix VARCHAR, 
	include_author BOOLEAN NOT NULL, 
	from_rewrite BOOLEAN NOT NULL, 
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
	PRIMARY KEY (id), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	UNIQUE ("key")
);
CREATE INDEX ix_topics_group_subject ON topics (group_id, subject_key);
CREATE INDEX ix_topics_group_id ON topics (group_id);
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
	topic_id INTEGER, 
	sent_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (group_id, channel, message_id), 
	FOREIGN KEY(group_id) REFERENCES groups (id), 
	FOREIGN KEY(topic_id) REFERENCES topics (id)
);
CREATE INDEX ix_messages_state ON messages (state, lease_until);
CREATE INDEX ix_messages_topic ON messages (topic_id, id);
CREATE INDEX ix_messages_group_id ON messages (group_id);
CREATE TABLE outbox (
	id INTEGER NOT NULL, 
	"key" VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	message_pk INTEGER, 
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
	FOREIGN KEY(member_id) REFERENCES members (id), 
	FOREIGN KEY(group_id) REFERENCES groups (id)
);
CREATE INDEX ix_outbox_message_pk ON outbox (message_pk);
CREATE INDEX ix_outbox_due ON outbox (state, next_attempt_at)
;
