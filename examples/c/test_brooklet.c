/* Tests of brooklet's C API over its whole surface, error paths included. Each test works
 * on its own file in the directory given as argv[1]. The first failed check prints its
 * file:line and the last error message, and exits non-zero.
 *
 * Build and run (plain, static and under valgrind): examples/c/run.sh */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "brooklet.h"

static int checks;

#define FAIL(...)                                                                     \
    do {                                                                              \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                               \
        fprintf(stderr, __VA_ARGS__);                                                 \
        fprintf(stderr, "\n  brooklet_errmsg(): %s\n", brooklet_errmsg());            \
        exit(1);                                                                      \
    } while (0)

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) FAIL("check failed: %s", #cond);                                 \
    } while (0)

#define EXPECT_STATUS(call, want)                                                     \
    do {                                                                              \
        checks++;                                                                     \
        brooklet_status got_ = (call);                                                \
        if (got_ != (want))                                                           \
            FAIL("%s returned %d (%s), expected %s", #call, (int)got_,                \
                 brooklet_errstr(got_), #want);                                       \
    } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, BROOKLET_OK)

static char dir[512];

/* A fresh path for a test's file. */
static const char *path_for(const char *name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s.brooklet", dir, name);
    unlink(path);
    return path;
}

static brooklet_db *open_new(const char *name) {
    brooklet_db *db = NULL;
    EXPECT_OK(brooklet_open(path_for(name), NULL, &db));
    EXPECT(db != NULL);
    return db;
}

/* A record of NUL-terminated strings; NULL stays NULL (Kafka's null). */
static brooklet_record_in text_record(const char *key, const char *value) {
    brooklet_record_in r;
    memset(&r, 0, sizeof r);
    r.key = (const uint8_t *)key;
    r.key_len = key ? strlen(key) : 0;
    r.value = (const uint8_t *)value;
    r.value_len = value ? strlen(value) : 0;
    return r;
}

static int bytes_equal(const uint8_t *p, size_t len, const char *want) {
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

static int error_mentions(const char *text) { return strstr(brooklet_errmsg(), text) != NULL; }

/* Fetches one partition from `offset`; the caller iterates and frees the records. */
static brooklet_records *fetch_from(brooklet_db *db, const char *topic, uint32_t partition,
                                    uint64_t offset) {
    brooklet_records *records = NULL;
    EXPECT_OK(brooklet_fetch(db, topic, partition, offset, 0, 0, &records));
    EXPECT(records != NULL);
    return records;
}

static size_t count_records(brooklet_records *records) {
    brooklet_record r;
    size_t n = 0;
    brooklet_status s;
    while ((s = brooklet_records_next(records, &r)) == BROOKLET_ROW) n++;
    EXPECT(s == BROOKLET_DONE);
    return n;
}

/* ---- the tests ---- */

static void test_version_and_errstr(void) {
    EXPECT(strlen(brooklet_version()) > 0);
    EXPECT(strcmp(brooklet_errstr(BROOKLET_OK), "not an error") == 0);
    EXPECT(strcmp(brooklet_errstr(BROOKLET_NOT_FOUND), "not found") == 0);
    EXPECT(strcmp(brooklet_errstr(BROOKLET_CORRUPT), "file is corrupt") == 0);
    EXPECT(strcmp(brooklet_errstr(999), "unknown status") == 0);
    EXPECT(brooklet_errmsg() != NULL);
    /* The codes are the contract's numbers. */
    EXPECT(BROOKLET_MISUSE == 3 && BROOKLET_NOT_FOUND == 8 && BROOKLET_CLOSED == 14);
    EXPECT(BROOKLET_COMMIT_UNKNOWN == 17 && BROOKLET_ROW == 100 && BROOKLET_DONE == 101);
}

static void test_options_defaults_and_reopen(void) {
    brooklet_options o;
    memset(&o, 0xAB, sizeof o);
    EXPECT_OK(brooklet_options_init(&o));
    EXPECT(o.page_size == 4096);
    EXPECT(o.cache_bytes == 32u << 20);
    EXPECT(o.busy_timeout_ms == 5000);
    EXPECT(o.durability == BROOKLET_DURABILITY_IMMEDIATE);
    EXPECT(o.read_only == 0 && o.create == 1 && o.maintain_on_open == 1);

    /* A new file with 8 KiB pages; reopening keeps them, whatever the options say. */
    const char *path = path_for("options");
    o.page_size = 8192;
    o.durability = BROOKLET_DURABILITY_NONE;
    brooklet_db *db = NULL;
    EXPECT_OK(brooklet_open(path, &o, &db));
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    EXPECT_OK(brooklet_close(db));
    o.page_size = 4096;
    o.create = 0;
    o.maintain_on_open = 0;
    EXPECT_OK(brooklet_open(path, &o, &db));
    brooklet_check_report *report = NULL;
    EXPECT_OK(brooklet_check(db, &report));
    EXPECT(report->page_size == 8192);
    brooklet_check_report_free(report);
    EXPECT_OK(brooklet_close(db));

    /* create = 0 on a missing file fails, and leaves the handle NULL. */
    db = (brooklet_db *)&o; /* not NULL: the call must overwrite it */
    EXPECT_STATUS(brooklet_open(path_for("missing"), &o, &db), BROOKLET_IOERR);
    EXPECT(db == NULL);
    /* Bad option values. */
    brooklet_options_init(&o);
    o.durability = 7;
    EXPECT_STATUS(brooklet_open(path_for("bad-durability"), &o, &db), BROOKLET_INVALID);
    brooklet_options_init(&o);
    o.page_size = 1000;
    EXPECT_STATUS(brooklet_open(path_for("bad-page-size"), &o, &db), BROOKLET_INVALID);
    /* A directory is not a file. */
    EXPECT_STATUS(brooklet_open(dir, NULL, &db), BROOKLET_IOERR);
}

static void test_null_pointers_are_misuse(void) {
    brooklet_db *db = open_new("nulls");
    brooklet_db *out = NULL;
    brooklet_records *records = NULL;
    brooklet_record r;
    uint64_t offset;
    brooklet_record_in rec = text_record("k", "v");

    EXPECT_STATUS(brooklet_open(NULL, NULL, &out), BROOKLET_MISUSE);
    EXPECT(error_mentions("path is NULL"));
    EXPECT_STATUS(brooklet_open(path_for("nulls2"), NULL, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_options_init(NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_flush(NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_create_topic(NULL, "t", 1, NULL, 0), BROOKLET_MISUSE);
    EXPECT(error_mentions("db is NULL"));
    EXPECT_STATUS(brooklet_create_topic(db, NULL, 1, NULL, 0), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_create_topic(db, "t", 1, NULL, 2), BROOKLET_MISUSE);
    brooklet_config_entry bad_config = {"retention.ms", NULL};
    EXPECT_STATUS(brooklet_create_topic(db, "t", 1, &bad_config, 1), BROOKLET_MISUSE);
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    EXPECT_STATUS(brooklet_send(db, NULL, 0, &rec, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_send(db, "t", 0, NULL, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_send_batch(db, "t", 0, NULL, 3, NULL), BROOKLET_MISUSE);
    brooklet_record_in with_headers = rec;
    with_headers.header_count = 1; /* headers NULL */
    EXPECT_STATUS(brooklet_send(db, "t", 0, &with_headers, NULL), BROOKLET_MISUSE);
    brooklet_header null_key = {NULL, 0, (const uint8_t *)"v", 1};
    with_headers.headers = &null_key;
    EXPECT_STATUS(brooklet_send(db, "t", 0, &with_headers, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_fetch(db, "t", 0, 0, 0, 0, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_fetch(NULL, "t", 0, 0, 0, 0, &records), BROOKLET_MISUSE);
    EXPECT(records == NULL);
    EXPECT_STATUS(brooklet_records_next(NULL, &r), BROOKLET_MISUSE);
    records = fetch_from(db, "t", 0, 0);
    EXPECT_STATUS(brooklet_records_next(records, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_records_next_offset(records, NULL), BROOKLET_MISUSE);
    brooklet_records_free(records);
    EXPECT_STATUS(brooklet_end_offset(db, "t", 0, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_end_offset(db, NULL, 0, &offset), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_reader_new(db, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_reader_poll(NULL, 0, &records), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_consumer_new(db, "g", NULL, 1, NULL, NULL), BROOKLET_MISUSE);
    brooklet_consumer *consumer = NULL;
    EXPECT_STATUS(brooklet_consumer_new(db, "g", NULL, 1, NULL, &consumer), BROOKLET_MISUSE);
    const char *null_topic[] = {NULL};
    EXPECT_STATUS(brooklet_consumer_new(db, "g", null_topic, 1, NULL, &consumer),
                  BROOKLET_MISUSE);
    EXPECT(consumer == NULL);
    EXPECT_STATUS(brooklet_consumer_poll(NULL, 0, &records), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_consumer_commit(NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_consumer_close(NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_describe_group(db, NULL, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_check(NULL, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_producer_send(NULL, "t", 0, &rec, NULL), BROOKLET_MISUSE);

    /* Every *_free takes NULL, and closing NULL is a no-op. */
    brooklet_records_free(NULL);
    brooklet_producer_free(NULL);
    brooklet_reader_free(NULL);
    brooklet_consumer_free(NULL);
    brooklet_topic_list_free(NULL);
    brooklet_topic_description_free(NULL);
    brooklet_partition_list_free(NULL);
    brooklet_group_list_free(NULL);
    brooklet_group_description_free(NULL);
    brooklet_check_report_free(NULL);
    EXPECT_OK(brooklet_close(NULL));
    EXPECT_OK(brooklet_close(db));
}

static void test_invalid_utf8_is_invalid(void) {
    brooklet_db *db = open_new("utf8");
    EXPECT_STATUS(brooklet_create_topic(db, "bad\xff\xfe", 1, NULL, 0), BROOKLET_INVALID);
    EXPECT(error_mentions("UTF-8"));
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    brooklet_record_in rec = text_record("k", "v");
    brooklet_header h = {"\xc3\x28", 2, (const uint8_t *)"v", 1};
    rec.headers = &h;
    rec.header_count = 1;
    EXPECT_STATUS(brooklet_send(db, "t", 0, &rec, NULL), BROOKLET_INVALID);
    /* Keys and values are bytes: anything goes. */
    rec = text_record("\xff\xfe", "\xc3\x28");
    EXPECT_OK(brooklet_send(db, "t", 0, &rec, NULL));
    /* A name brooklet refuses (Kafka's rules) is invalid too. */
    EXPECT_STATUS(brooklet_create_topic(db, "has space", 1, NULL, 0), BROOKLET_INVALID);
    EXPECT_OK(brooklet_close(db));
}

static void test_topics(void) {
    brooklet_db *db = open_new("topics");
    brooklet_config_entry configs[] = {{"retention.ms", "86400000"},
                                       {"cleanup.policy", "compact"}};
    EXPECT_OK(brooklet_create_topic(db, "orders", 3, configs, 2));
    EXPECT_OK(brooklet_create_topic(db, "audit", 1, NULL, 0));
    EXPECT_STATUS(brooklet_create_topic(db, "orders", 3, NULL, 0), BROOKLET_EXISTS);
    EXPECT(error_mentions("already exists"));
    brooklet_config_entry unknown[] = {{"retention.hours", "1"}};
    EXPECT_STATUS(brooklet_create_topic(db, "x", 1, unknown, 1), BROOKLET_INVALID);
    brooklet_config_entry bad_value[] = {{"retention.ms", "soon"}};
    EXPECT_STATUS(brooklet_create_topic(db, "x", 1, bad_value, 1), BROOKLET_INVALID);
    EXPECT_STATUS(brooklet_create_topic(db, "x", 0, NULL, 0), BROOKLET_INVALID);

    brooklet_topic_list *list = NULL;
    EXPECT_OK(brooklet_list_topics(db, &list));
    EXPECT(list->count == 2);
    EXPECT(strcmp(list->topics[0].name, "audit") == 0 && list->topics[0].partitions == 1);
    EXPECT(strcmp(list->topics[1].name, "orders") == 0 && list->topics[1].partitions == 3);
    brooklet_topic_list_free(list);

    brooklet_record_in rec = text_record("k", "v");
    EXPECT_OK(brooklet_send(db, "orders", 2, &rec, NULL));
    EXPECT_OK(brooklet_send(db, "orders", 2, &rec, NULL));
    brooklet_topic_description *d = NULL;
    EXPECT_OK(brooklet_describe_topic(db, "orders", &d));
    EXPECT(strcmp(d->name, "orders") == 0);
    EXPECT(d->partition_count == 3);
    EXPECT(d->partitions[2].partition == 2 && d->partitions[2].end_offset == 2);
    EXPECT(d->partitions[2].beginning_offset == 0 && d->partitions[2].bytes > 0);
    EXPECT(d->partitions[0].end_offset == 0);
    int found_retention = 0, found_policy = 0;
    for (size_t i = 0; i < d->config_count; i++) {
        if (strcmp(d->configs[i].key, "retention.ms") == 0)
            found_retention = strcmp(d->configs[i].value, "86400000") == 0;
        if (strcmp(d->configs[i].key, "cleanup.policy") == 0)
            found_policy = strcmp(d->configs[i].value, "compact") == 0;
    }
    EXPECT(found_retention && found_policy);
    brooklet_topic_description_free(d);

    /* Alter: the named configs change, the others keep their values; a bad value or an
     * unknown topic changes nothing. */
    brooklet_config_entry longer[] = {{"retention.ms", "172800000"}};
    EXPECT_OK(brooklet_alter_topic(db, "orders", longer, 1));
    EXPECT_STATUS(brooklet_alter_topic(db, "orders", bad_value, 1), BROOKLET_INVALID);
    EXPECT_STATUS(brooklet_alter_topic(db, "nope", longer, 1), BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_alter_topic(db, NULL, longer, 1), BROOKLET_MISUSE);
    EXPECT_OK(brooklet_describe_topic(db, "orders", &d));
    found_retention = found_policy = 0;
    for (size_t i = 0; i < d->config_count; i++) {
        if (strcmp(d->configs[i].key, "retention.ms") == 0)
            found_retention = strcmp(d->configs[i].value, "172800000") == 0;
        if (strcmp(d->configs[i].key, "cleanup.policy") == 0)
            found_policy = strcmp(d->configs[i].value, "compact") == 0;
    }
    EXPECT(found_retention && found_policy);
    brooklet_topic_description_free(d);

    EXPECT_OK(brooklet_delete_topic(db, "orders"));
    d = (brooklet_topic_description *)db;
    EXPECT_STATUS(brooklet_describe_topic(db, "orders", &d), BROOKLET_NOT_FOUND);
    EXPECT(d == NULL);
    EXPECT(error_mentions("\"orders\" does not exist"));
    EXPECT_STATUS(brooklet_delete_topic(db, "orders"), BROOKLET_NOT_FOUND);
    EXPECT_OK(brooklet_close(db));
}

static void test_send_fetch_and_offsets(void) {
    brooklet_db *db = open_new("send-fetch");
    EXPECT_OK(brooklet_create_topic(db, "t", 2, NULL, 0));
    brooklet_record_metadata meta;
    brooklet_record_in rec = text_record("key-a", "first");
    EXPECT_OK(brooklet_send(db, "t", 1, &rec, &meta));
    EXPECT(meta.partition == 1 && meta.offset == 0 && meta.timestamp_ms > 0);

    brooklet_record_in batch[3] = {text_record("a", "one"), text_record("b", "two"),
                                   text_record(NULL, "three")};
    brooklet_record_metadata metas[3];
    EXPECT_OK(brooklet_send_batch(db, "t", 1, batch, 3, metas));
    EXPECT(metas[0].offset == 1 && metas[1].offset == 2 && metas[2].offset == 3);
    EXPECT(metas[2].partition == 1);
    EXPECT_OK(brooklet_send_batch(db, "t", 1, batch, 3, NULL)); /* metadata not wanted */
    EXPECT_OK(brooklet_send_batch(db, "t", 1, NULL, 0, NULL));  /* an empty batch */
    /* By key: the same key always goes to the same partition. */
    brooklet_record_in keyed = text_record("customer-7", "x");
    brooklet_record_metadata m1, m2;
    EXPECT_OK(brooklet_send(db, "t", BROOKLET_PARTITION_ANY, &keyed, &m1));
    EXPECT_OK(brooklet_send(db, "t", BROOKLET_PARTITION_ANY, &keyed, &m2));
    EXPECT(m1.partition == m2.partition && m2.offset == m1.offset + 1);
    EXPECT_STATUS(brooklet_send(db, "t", -2, &rec, NULL), BROOKLET_INVALID);
    EXPECT_STATUS(brooklet_send(db, "t", 5, &rec, NULL), BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_send(db, "nope", 0, &rec, NULL), BROOKLET_NOT_FOUND);
    EXPECT_OK(brooklet_flush(db));

    uint64_t begin, end;
    EXPECT_OK(brooklet_beginning_offset(db, "t", 1, &begin));
    EXPECT_OK(brooklet_end_offset(db, "t", 1, &end));
    EXPECT(begin == 0 && end == (m1.partition == 1 ? 9u : 7u));
    EXPECT_STATUS(brooklet_end_offset(db, "t", 9, &end), BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_end_offset(db, "nope", 0, &end), BROOKLET_NOT_FOUND);

    /* Fetch from offset 2: the records come in order, with their topic and partition. */
    brooklet_records *records = fetch_from(db, "t", 1, 2);
    brooklet_record r;
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.offset == 2 && r.partition == 1 && strcmp(r.topic, "t") == 0);
    EXPECT(bytes_equal(r.key, r.key_len, "b") && bytes_equal(r.value, r.value_len, "two"));
    EXPECT(r.header_count == 0 && r.timestamp_ms == metas[1].timestamp_ms);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.offset == 3 && r.key == NULL && r.key_len == 0);
    size_t rest = count_records(records);
    EXPECT(rest == end - 4);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_DONE); /* stays done */
    uint64_t next, fetched_end;
    EXPECT_OK(brooklet_records_next_offset(records, &next));
    EXPECT_OK(brooklet_records_end_offset(records, &fetched_end));
    EXPECT(next == end && fetched_end == end);
    brooklet_records_free(records);

    /* max_records limits a fetch (to whole batches: here one batch of 3 from offset 1). */
    EXPECT_OK(brooklet_fetch(db, "t", 1, 1, 1, 0, &records));
    EXPECT(count_records(records) == 3);
    EXPECT_OK(brooklet_records_next_offset(records, &next));
    EXPECT(next == 4);
    brooklet_records_free(records);

    /* At the end: no records. Past the end: none either. Unknown: not found. */
    records = fetch_from(db, "t", 1, end);
    EXPECT(count_records(records) == 0);
    brooklet_records_free(records);
    records = fetch_from(db, "t", 1, end + 100);
    EXPECT(count_records(records) == 0);
    brooklet_records_free(records);
    EXPECT_STATUS(brooklet_fetch(db, "nope", 0, 0, 0, 0, &records), BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_fetch(db, "t", 2, 0, 0, 0, &records), BROOKLET_NOT_FOUND);
    EXPECT(records == NULL);
    EXPECT_OK(brooklet_close(db));
}

static void test_null_and_empty_round_trip(void) {
    brooklet_db *db = open_new("null-empty");
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    static const uint8_t some_byte = 0;
    brooklet_header headers[] = {
        {"null", 4, NULL, 0},
        {"empty", 5, &some_byte, 0},
        {"", 0, (const uint8_t *)"v", 1}, /* an empty key is a key */
    };
    brooklet_record_in recs[4];
    memset(recs, 0, sizeof recs);
    /* 0: null key, null value (a tombstone without key). */
    /* 1: empty key, empty value. */
    recs[1].key = &some_byte;
    recs[1].value = &some_byte;
    /* 2: null key, empty value, with headers. */
    recs[2].value = &some_byte;
    recs[2].headers = headers;
    recs[2].header_count = 3;
    /* 3: empty key, null value. */
    recs[3].key = &some_byte;
    EXPECT_OK(brooklet_send_batch(db, "t", 0, recs, 4, NULL));

    brooklet_records *records = fetch_from(db, "t", 0, 0);
    brooklet_record r;
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.key == NULL && r.value == NULL);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.key != NULL && r.key_len == 0 && r.value != NULL && r.value_len == 0);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.key == NULL && r.value != NULL && r.value_len == 0);
    EXPECT(r.header_count == 3);
    EXPECT(r.headers[0].key_len == 4 && memcmp(r.headers[0].key, "null", 4) == 0);
    EXPECT(r.headers[0].value == NULL && r.headers[0].value_len == 0);
    EXPECT(r.headers[1].value != NULL && r.headers[1].value_len == 0);
    EXPECT(r.headers[2].key_len == 0 && bytes_equal(r.headers[2].value, 1, "v"));
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.key != NULL && r.key_len == 0 && r.value == NULL);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_DONE);
    brooklet_records_free(records);

    /* The same through a reader (decoded records rather than borrowed ones). */
    brooklet_reader *reader = NULL;
    EXPECT_OK(brooklet_reader_new(db, &reader));
    EXPECT_OK(brooklet_reader_assign(reader, "t", 0, BROOKLET_POSITION_BEGINNING, 0));
    EXPECT_OK(brooklet_reader_poll(reader, 0, &records));
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.key == NULL && r.value == NULL);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.key != NULL && r.key_len == 0 && r.value != NULL && r.value_len == 0);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.header_count == 3 && r.headers[0].value == NULL && r.headers[1].value != NULL);
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.key != NULL && r.value == NULL);
    brooklet_records_free(records);
    brooklet_reader_free(reader);
    EXPECT_OK(brooklet_close(db));
}

static void test_header_order_and_duplicates(void) {
    brooklet_db *db = open_new("headers");
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    brooklet_header headers[] = {
        {"a", 1, (const uint8_t *)"1", 1}, {"b", 1, (const uint8_t *)"2", 1},
        {"a", 1, (const uint8_t *)"3", 1}, {"c", 1, NULL, 0},
        {"a", 1, (const uint8_t *)"1", 1},
    };
    brooklet_record_in rec = text_record("k", "v");
    rec.headers = headers;
    rec.header_count = 5;
    EXPECT_OK(brooklet_send(db, "t", 0, &rec, NULL));
    EXPECT_OK(brooklet_send(db, "t", 0, &rec, NULL));
    brooklet_records *records = fetch_from(db, "t", 0, 0);
    brooklet_record r;
    for (int n = 0; n < 2; n++) {
        EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
        EXPECT(r.header_count == 5);
        const char *want_keys = "abaca", *want_values = "123-1";
        for (size_t i = 0; i < 5; i++) {
            EXPECT(r.headers[i].key_len == 1 && r.headers[i].key[0] == want_keys[i]);
            if (want_values[i] == '-') {
                EXPECT(r.headers[i].value == NULL);
            } else {
                EXPECT(r.headers[i].value_len == 1 && r.headers[i].value[0] == want_values[i]);
            }
        }
    }
    brooklet_records_free(records);
    EXPECT_OK(brooklet_close(db));
}

/* Checks the views of batch_views() below: record i has value "v<i>" and i headers
 * "h<j>" = "<j>" (j < i). */
static void expect_batch_views(const brooklet_record *views, size_t n, size_t first) {
    for (size_t k = 0; k < n; k++) {
        size_t i = first + k;
        char value[16];
        snprintf(value, sizeof value, "v%zu", i);
        EXPECT(bytes_equal(views[k].value, views[k].value_len, value));
        EXPECT(views[k].offset == i && strcmp(views[k].topic, "t") == 0);
        EXPECT(views[k].header_count == i % 4);
        EXPECT((views[k].headers == NULL) == (i % 4 == 0));
        for (size_t j = 0; j < views[k].header_count; j++) {
            const brooklet_header *h = &views[k].headers[j];
            EXPECT(h->key_len == 2 && h->key[0] == 'h' && h->key[1] == (char)('0' + j));
            EXPECT(h->value_len == 1 && h->value[0] == (uint8_t)('0' + j));
        }
    }
}

static void test_records_next_batch(void) {
    brooklet_db *db = open_new("next-batch");
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    /* 10 records, record i with i % 4 headers, so that the headers of a batch of views
     * outgrow the first buffer brooklet keeps them in. */
    brooklet_header headers[3] = {{"h0", 2, (const uint8_t *)"0", 1},
                                  {"h1", 2, (const uint8_t *)"1", 1},
                                  {"h2", 2, (const uint8_t *)"2", 1}};
    char values[10][16];
    brooklet_record_in recs[10];
    for (int i = 0; i < 10; i++) {
        snprintf(values[i], sizeof values[i], "v%d", i);
        recs[i] = text_record(NULL, values[i]);
        recs[i].headers = headers;
        recs[i].header_count = (size_t)(i % 4);
    }
    EXPECT_OK(brooklet_send_batch(db, "t", 0, recs, 10, NULL));

    brooklet_record views[4];
    size_t n = 99;
    brooklet_records *records = fetch_from(db, "t", 0, 0);
    EXPECT_STATUS(brooklet_records_next_batch(records, views, 0, &n), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_records_next_batch(records, NULL, 4, &n), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_records_next_batch(records, views, 4, NULL), BROOKLET_MISUSE);
    EXPECT_STATUS(brooklet_records_next_batch(NULL, views, 4, &n), BROOKLET_MISUSE);
    /* One at a time, then in batches of 4: 1 + 4 + 4 + 1. */
    brooklet_record r;
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    expect_batch_views(&r, 1, 0);
    size_t seen = 1;
    while (brooklet_records_next_batch(records, views, 4, &n) == BROOKLET_ROW) {
        EXPECT(n >= 1 && n <= 4);
        expect_batch_views(views, n, seen);
        seen += n;
    }
    EXPECT(seen == 10);
    EXPECT_STATUS(brooklet_records_next_batch(records, views, 4, &n), BROOKLET_DONE);
    EXPECT(n == 0);
    brooklet_records_free(records);

    /* The same over a poll's records. */
    brooklet_reader *reader = NULL;
    EXPECT_OK(brooklet_reader_new(db, &reader));
    EXPECT_OK(brooklet_reader_assign(reader, "t", 0, BROOKLET_POSITION_BEGINNING, 0));
    EXPECT_OK(brooklet_reader_poll(reader, 1000, &records));
    seen = 0;
    while (brooklet_records_next_batch(records, views, 3, &n) == BROOKLET_ROW) {
        expect_batch_views(views, n, seen);
        seen += n;
    }
    EXPECT(seen == 10);
    brooklet_records_free(records);
    brooklet_reader_free(reader);
    EXPECT_OK(brooklet_close(db));
}

static void test_timestamps(void) {
    brooklet_db *db = open_new("timestamps");
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    brooklet_record_in recs[3] = {text_record(NULL, "a"), text_record(NULL, "b"),
                                  text_record(NULL, "c")};
    recs[0].timestamp_ms = 1700000000000;
    recs[1].timestamp_ms = 1700000001000;
    recs[2].timestamp_ms = 1700000002000;
    brooklet_record_metadata metas[3];
    EXPECT_OK(brooklet_send_batch(db, "t", 0, recs, 3, metas));
    EXPECT(metas[1].timestamp_ms == 1700000001000);
    int64_t offset;
    EXPECT_OK(brooklet_offset_for_time(db, "t", 0, 1700000000500, &offset));
    EXPECT(offset == 1);
    EXPECT_OK(brooklet_offset_for_time(db, "t", 0, 1800000000000, &offset));
    EXPECT(offset == BROOKLET_NO_OFFSET);
    brooklet_records *records = fetch_from(db, "t", 0, 2);
    brooklet_record r;
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.timestamp_ms == 1700000002000);
    brooklet_records_free(records);
    recs[0].timestamp_ms = -5;
    EXPECT_STATUS(brooklet_send(db, "t", 0, &recs[0], NULL), BROOKLET_INVALID);
    EXPECT_OK(brooklet_close(db));
}

static void test_too_large(void) {
    brooklet_db *db = open_new("too-large");
    brooklet_config_entry configs[] = {{"max.message.bytes", "1024"}};
    EXPECT_OK(brooklet_create_topic(db, "t", 1, configs, 1));
    static uint8_t big[4096];
    brooklet_record_in rec = text_record("k", NULL);
    rec.value = big;
    rec.value_len = sizeof big;
    brooklet_record_in batch[2] = {text_record("k", "small"), rec};
    EXPECT_STATUS(brooklet_send(db, "t", 0, &rec, NULL), BROOKLET_TOO_LARGE);
    EXPECT(error_mentions("over the limit"));
    EXPECT_STATUS(brooklet_send_batch(db, "t", 0, batch, 2, NULL), BROOKLET_TOO_LARGE);
    uint64_t end;
    EXPECT_OK(brooklet_end_offset(db, "t", 0, &end));
    EXPECT(end == 0); /* nothing of either send was stored */
    EXPECT_OK(brooklet_close(db));
}

/* Writes enough to a topic with small segments and byte retention that its oldest records
 * are deleted; returns the partition's first offset. */
static uint64_t fill_past_retention(brooklet_db *db, const char *topic) {
    brooklet_config_entry configs[] = {{"segment.bytes", "65536"}, {"retention.bytes", "65536"}};
    EXPECT_OK(brooklet_create_topic(db, topic, 1, configs, 2));
    static uint8_t value[1000];
    brooklet_record_in batch[50];
    for (int i = 0; i < 50; i++) {
        batch[i] = text_record(NULL, NULL);
        batch[i].value = value;
        batch[i].value_len = sizeof value;
    }
    for (int i = 0; i < 10; i++) EXPECT_OK(brooklet_send_batch(db, topic, 0, batch, 50, NULL));
    uint64_t begin;
    EXPECT_OK(brooklet_beginning_offset(db, topic, 0, &begin));
    EXPECT(begin > 0);
    return begin;
}

static void test_out_of_range(void) {
    brooklet_db *db = open_new("out-of-range");
    uint64_t begin = fill_past_retention(db, "t");
    brooklet_records *records = NULL;
    EXPECT_STATUS(brooklet_fetch(db, "t", 0, 0, 0, 0, &records), BROOKLET_OUT_OF_RANGE);
    EXPECT(records == NULL && error_mentions("out of range"));
    records = fetch_from(db, "t", 0, begin);
    EXPECT(count_records(records) > 0);
    brooklet_records_free(records);

    /* A consumer with auto_offset_reset "none" whose committed offset fell out of the log. */
    brooklet_consumer_options o;
    brooklet_consumer_options_init(&o);
    o.auto_offset_reset = BROOKLET_OFFSET_RESET_EARLIEST;
    o.auto_commit_interval_ms = 0;
    const char *topics[] = {"t"};
    brooklet_consumer *c = NULL;
    EXPECT_OK(brooklet_consumer_new(db, "g", topics, 1, &o, &c));
    EXPECT_OK(brooklet_consumer_seek(c, "t", 0, BROOKLET_POSITION_OFFSET, 0));
    EXPECT_OK(brooklet_consumer_poll(c, 1000, &records)); /* reset to the beginning */
    brooklet_record r;
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.offset == begin);
    brooklet_records_free(records);
    EXPECT_OK(brooklet_consumer_commit(c));
    EXPECT_OK(brooklet_consumer_close(c));
    brooklet_consumer_free(c);

    /* Kafka's "none": a group without a committed offset cannot start... */
    o.auto_offset_reset = BROOKLET_OFFSET_RESET_NONE;
    EXPECT_STATUS(brooklet_consumer_new(db, "g2", topics, 1, &o, &c), BROOKLET_INVALID);
    EXPECT(c == NULL && error_mentions("no valid committed offset"));
    /* ...and one that has one fails to read before the log's first offset. */
    EXPECT_OK(brooklet_consumer_new(db, "g", topics, 1, &o, &c));
    EXPECT_OK(brooklet_consumer_seek(c, "t", 0, BROOKLET_POSITION_OFFSET, 0));
    EXPECT_STATUS(brooklet_consumer_poll(c, 0, &records), BROOKLET_OUT_OF_RANGE);
    EXPECT(records == NULL);
    brooklet_consumer_free(c); /* free without close: leaves the group */
    EXPECT_OK(brooklet_close(db));
}

static void test_delete_records(void) {
    brooklet_db *db = open_new("delete-records");
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    brooklet_record_in batch[3] = {text_record("a", "one"), text_record("b", "two"),
                                   text_record("c", "three")};
    for (int i = 0; i < 4; i++) EXPECT_OK(brooklet_send_batch(db, "t", 0, batch, 3, NULL));
    uint64_t begin = 0;
    EXPECT_OK(brooklet_delete_records(db, "t", 0, 5, &begin));
    EXPECT(begin == 5);
    EXPECT_OK(brooklet_beginning_offset(db, "t", 0, &begin));
    EXPECT(begin == 5);
    brooklet_records *records = fetch_from(db, "t", 0, 5);
    brooklet_record r;
    EXPECT_STATUS(brooklet_records_next(records, &r), BROOKLET_ROW);
    EXPECT(r.offset == 5 && bytes_equal(r.value, r.value_len, "three"));
    brooklet_records_free(records);
    EXPECT_OK(brooklet_delete_records(db, "t", 0, 2, &begin)); /* backwards: no change */
    EXPECT(begin == 5);
    EXPECT_STATUS(brooklet_delete_records(db, "t", 0, 13, NULL), BROOKLET_OUT_OF_RANGE);
    EXPECT_STATUS(brooklet_delete_records(db, "t", 1, 0, NULL), BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_delete_records(db, "nope", 0, 0, NULL), BROOKLET_NOT_FOUND);
    EXPECT_OK(brooklet_delete_records(db, "t", 0, 12, NULL));
    EXPECT_OK(brooklet_beginning_offset(db, "t", 0, &begin));
    EXPECT(begin == 12);
    EXPECT_OK(brooklet_close(db));
}

static void test_read_only_refuses_changes(void) {
    const char *path = path_for("read-only");
    brooklet_db *db = NULL;
    EXPECT_OK(brooklet_open(path, NULL, &db));
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    brooklet_record_in rec = text_record("k", "v");
    EXPECT_OK(brooklet_send(db, "t", 0, &rec, NULL));
    EXPECT_OK(brooklet_close(db));

    brooklet_options o;
    brooklet_options_init(&o);
    o.read_only = 1;
    EXPECT_OK(brooklet_open(path, &o, &db));
    EXPECT_STATUS(brooklet_send(db, "t", 0, &rec, NULL), BROOKLET_READONLY);
    EXPECT(error_mentions("read-only"));
    EXPECT_STATUS(brooklet_create_topic(db, "u", 1, NULL, 0), BROOKLET_READONLY);
    EXPECT_STATUS(brooklet_delete_topic(db, "t"), BROOKLET_READONLY);
    brooklet_records *records = fetch_from(db, "t", 0, 0); /* reading works */
    EXPECT(count_records(records) == 1);
    brooklet_records_free(records);
    EXPECT_OK(brooklet_close(db));
    /* Read-only never creates. */
    EXPECT_STATUS(brooklet_open(path_for("read-only-missing"), &o, &db), BROOKLET_IOERR);
}

static void test_corrupt_file(void) {
    const char *path = path_for("corrupt");
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    EXPECT(fd >= 0);
    char junk[8192];
    memset(junk, 'x', sizeof junk);
    EXPECT(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
    close(fd);
    brooklet_db *db = NULL;
    EXPECT_STATUS(brooklet_open(path, NULL, &db), BROOKLET_CORRUPT);
    EXPECT(db == NULL && error_mentions("corrupt"));

    /* A real file with the magic bytes of both header pages (0 and 1) damaged: with only
     * one damaged, recovery opens the other's commit. */
    path = path_for("corrupt-header");
    EXPECT_OK(brooklet_open(path, NULL, &db));
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    EXPECT_OK(brooklet_close(db));
    fd = open(path, O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT(pwrite(fd, "NOTBROOK", 8, 0) == 8);
    EXPECT(pwrite(fd, "NOTBROOK", 8, 4096) == 8);
    close(fd);
    EXPECT_STATUS(brooklet_open(path, NULL, &db), BROOKLET_CORRUPT);
}

static void test_producers_and_durability(void) {
    const char *path = path_for("producers");
    brooklet_db *db = NULL;
    EXPECT_OK(brooklet_open(path, NULL, &db));
    EXPECT_OK(brooklet_create_topic(db, "t", 2, NULL, 0));
    brooklet_producer *fast = NULL, *safe = NULL, *bad = NULL;
    EXPECT_OK(brooklet_producer_new(db, BROOKLET_DURABILITY_NONE, &fast));
    EXPECT_OK(brooklet_producer_new(db, BROOKLET_DURABILITY_PARANOID, &safe));
    EXPECT_STATUS(brooklet_producer_new(db, 42, &bad), BROOKLET_INVALID);
    EXPECT(bad == NULL);
    brooklet_record_in batch[2] = {text_record(NULL, "x"), text_record(NULL, "y")};
    brooklet_record_metadata metas[2];
    EXPECT_OK(brooklet_producer_send_batch(fast, "t", BROOKLET_PARTITION_ANY, batch, 2, metas));
    /* Records without a key share the producer's sticky partition. */
    EXPECT(metas[0].partition == metas[1].partition && metas[1].offset == metas[0].offset + 1);
    brooklet_record_metadata meta;
    EXPECT_OK(brooklet_producer_send(safe, "t", 0, &batch[0], &meta));
    EXPECT(meta.partition == 0);
    EXPECT_STATUS(brooklet_producer_send(safe, "nope", 0, &batch[0], NULL), BROOKLET_NOT_FOUND);
    EXPECT_OK(brooklet_flush(db));

    /* A producer keeps the database open after brooklet_close. */
    EXPECT_OK(brooklet_close(db));
    EXPECT_OK(brooklet_producer_send(fast, "t", 1, &batch[1], NULL));
    brooklet_producer_free(safe);
    brooklet_producer_free(fast); /* the last user: the file is closed now */

    brooklet_options o;
    brooklet_options_init(&o);
    o.create = 0;
    EXPECT_OK(brooklet_open(path, &o, &db));
    uint64_t end0, end1;
    EXPECT_OK(brooklet_end_offset(db, "t", 0, &end0));
    EXPECT_OK(brooklet_end_offset(db, "t", 1, &end1));
    EXPECT(end0 + end1 == 4);
    EXPECT_OK(brooklet_close(db));
}

static void test_reader(void) {
    brooklet_db *db = open_new("reader");
    EXPECT_OK(brooklet_create_topic(db, "t", 2, NULL, 0));
    brooklet_record_in recs[3] = {text_record("a", "0"), text_record("b", "1"),
                                  text_record("c", "2")};
    recs[0].timestamp_ms = 1000;
    recs[1].timestamp_ms = 2000;
    recs[2].timestamp_ms = 3000;
    EXPECT_OK(brooklet_send_batch(db, "t", 0, recs, 3, NULL));
    EXPECT_OK(brooklet_send_batch(db, "t", 1, recs, 1, NULL));

    brooklet_reader *reader = NULL;
    EXPECT_OK(brooklet_reader_new(db, &reader));
    brooklet_records *records = NULL;
    /* Nothing assigned: a poll waits out its timeout and returns no records. */
    EXPECT_OK(brooklet_reader_poll(reader, 20, &records));
    EXPECT(count_records(records) == 0);
    brooklet_records_free(records);

    EXPECT_OK(brooklet_reader_assign(reader, "t", 0, BROOKLET_POSITION_OFFSET, 1));
    EXPECT_OK(brooklet_reader_assign(reader, "t", 1, BROOKLET_POSITION_BEGINNING, 0));
    uint64_t position;
    EXPECT_OK(brooklet_reader_position(reader, "t", 0, &position));
    EXPECT(position == 1);
    EXPECT_OK(brooklet_reader_poll(reader, 1000, &records));
    EXPECT(count_records(records) == 3);
    EXPECT_STATUS(brooklet_records_next_offset(records, &position), BROOKLET_MISUSE);
    brooklet_records_free(records);
    EXPECT_OK(brooklet_reader_position(reader, "t", 0, &position));
    EXPECT(position == 3);

    /* Caught up: a short poll times out with nothing. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    EXPECT_OK(brooklet_reader_poll(reader, 50, &records));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    EXPECT(count_records(records) == 0);
    brooklet_records_free(records);
    double waited_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    EXPECT(waited_ms >= 40);

    EXPECT_OK(brooklet_reader_assign(reader, "t", 0, BROOKLET_POSITION_TIMESTAMP, 2000));
    EXPECT_OK(brooklet_reader_position(reader, "t", 0, &position));
    EXPECT(position == 1);
    EXPECT_OK(brooklet_reader_assign(reader, "t", 0, BROOKLET_POSITION_END, 0));
    EXPECT_OK(brooklet_reader_position(reader, "t", 0, &position));
    EXPECT(position == 3);
    EXPECT_STATUS(brooklet_reader_assign(reader, "t", 0, BROOKLET_POSITION_COMMITTED, 0),
                  BROOKLET_INVALID);
    EXPECT_STATUS(brooklet_reader_assign(reader, "t", 0, 99, 0), BROOKLET_INVALID);
    EXPECT_STATUS(brooklet_reader_assign(reader, "t", 0, BROOKLET_POSITION_OFFSET, -1),
                  BROOKLET_INVALID);
    EXPECT_STATUS(brooklet_reader_assign(reader, "nope", 0, BROOKLET_POSITION_BEGINNING, 0),
                  BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_reader_position(reader, "other", 0, &position), BROOKLET_INVALID);
    brooklet_reader_free(reader);
    EXPECT_OK(brooklet_close(db));
}

static void send_values(brooklet_db *db, const char *topic, uint32_t partition, int count) {
    for (int i = 0; i < count; i++) {
        char value[32];
        snprintf(value, sizeof value, "value-%d", i);
        brooklet_record_in rec = text_record(NULL, value);
        EXPECT_OK(brooklet_send(db, topic, partition, &rec, NULL));
    }
}

static void test_consumer(void) {
    brooklet_db *db = open_new("consumer");
    EXPECT_OK(brooklet_create_topic(db, "orders", 2, NULL, 0));
    send_values(db, "orders", 0, 5);
    send_values(db, "orders", 1, 3);

    brooklet_consumer_options o;
    memset(&o, 0xAB, sizeof o);
    EXPECT_OK(brooklet_consumer_options_init(&o));
    EXPECT(o.auto_offset_reset == BROOKLET_OFFSET_RESET_LATEST);
    EXPECT(o.auto_commit_interval_ms == 5000 && o.session_timeout_ms == 10000);
    EXPECT(o.max_records == 500 && o.wait_for_topics == 0);
    o.auto_offset_reset = BROOKLET_OFFSET_RESET_EARLIEST;
    o.auto_commit_interval_ms = 0;

    const char *unknown[] = {"orders", "nope"};
    brooklet_consumer *c = NULL;
    EXPECT_STATUS(brooklet_consumer_new(db, "billing", unknown, 2, &o, &c), BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_consumer_new(db, "billing", unknown, 0, &o, &c), BROOKLET_INVALID);
    o.auto_offset_reset = 9;
    const char *topics[] = {"orders"};
    EXPECT_STATUS(brooklet_consumer_new(db, "billing", topics, 1, &o, &c), BROOKLET_INVALID);
    o.auto_offset_reset = BROOKLET_OFFSET_RESET_EARLIEST;
    EXPECT_OK(brooklet_consumer_new(db, "billing", topics, 1, &o, &c));

    brooklet_partition_list *assignment = NULL;
    EXPECT_OK(brooklet_consumer_assignment(c, &assignment));
    EXPECT(assignment->count == 2);
    EXPECT(strcmp(assignment->partitions[1].topic, "orders") == 0);
    EXPECT(assignment->partitions[1].partition == 1);
    brooklet_partition_list_free(assignment);

    /* Poll everything (a few polls at most), then commit. */
    size_t seen = 0;
    for (int i = 0; i < 10 && seen < 8; i++) {
        brooklet_records *records = NULL;
        EXPECT_OK(brooklet_consumer_poll(c, 200, &records));
        seen += count_records(records);
        brooklet_records_free(records);
    }
    EXPECT(seen == 8);
    uint64_t position, lag;
    int64_t committed;
    EXPECT_OK(brooklet_consumer_position(c, "orders", 0, &position));
    EXPECT(position == 5);
    EXPECT_OK(brooklet_consumer_committed(c, "orders", 0, &committed));
    EXPECT(committed == BROOKLET_NO_OFFSET);
    EXPECT_OK(brooklet_consumer_commit(c));
    EXPECT_OK(brooklet_consumer_committed(c, "orders", 0, &committed));
    EXPECT(committed == 5);
    EXPECT_OK(brooklet_consumer_lag(c, "orders", 0, &lag));
    EXPECT(lag == 0);

    /* Seek back, then forward; lag follows the position. */
    EXPECT_OK(brooklet_consumer_seek(c, "orders", 0, BROOKLET_POSITION_BEGINNING, 0));
    EXPECT_OK(brooklet_consumer_position(c, "orders", 0, &position));
    EXPECT(position == 0);
    EXPECT_OK(brooklet_consumer_lag(c, "orders", 0, &lag));
    EXPECT(lag == 5);
    EXPECT_OK(brooklet_consumer_seek(c, "orders", 0, BROOKLET_POSITION_OFFSET, 3));
    EXPECT_OK(brooklet_consumer_lag(c, "orders", 0, &lag));
    EXPECT(lag == 2);
    EXPECT_OK(brooklet_consumer_seek(c, "orders", 0, BROOKLET_POSITION_COMMITTED, 0));
    EXPECT_OK(brooklet_consumer_position(c, "orders", 0, &position));
    EXPECT(position == 5);
    EXPECT_OK(brooklet_consumer_seek(c, "orders", 0, BROOKLET_POSITION_END, 0));
    EXPECT_STATUS(brooklet_consumer_seek(c, "orders", 7, BROOKLET_POSITION_END, 0),
                  BROOKLET_INVALID);
    EXPECT(error_mentions("not assigned"));
    EXPECT_STATUS(brooklet_consumer_position(c, "orders", 7, &position), BROOKLET_INVALID);
    EXPECT_STATUS(brooklet_consumer_lag(c, "other", 0, &lag), BROOKLET_INVALID);

    /* Explicit offsets. */
    brooklet_partition_offset offsets[] = {{"orders", 0, 2}, {"orders", 1, 1}};
    EXPECT_OK(brooklet_consumer_commit_offsets(c, offsets, 2));
    EXPECT_OK(brooklet_consumer_committed(c, "orders", 1, &committed));
    EXPECT(committed == 1);

    /* The group as the admin sees it. */
    brooklet_group_list *groups = NULL;
    EXPECT_OK(brooklet_list_groups(db, &groups));
    EXPECT(groups->count == 1 && strcmp(groups->names[0], "billing") == 0);
    brooklet_group_list_free(groups);
    brooklet_group_description *d = NULL;
    EXPECT_OK(brooklet_describe_group(db, "billing", &d));
    EXPECT(strcmp(d->group, "billing") == 0 && strcmp(d->assignor, "range") == 0);
    EXPECT(d->member_count == 1 && d->members[0].live && d->members[0].pid == (uint32_t)getpid());
    EXPECT(strlen(d->members[0].id) == 16);
    EXPECT(d->members[0].topic_count == 1 && strcmp(d->members[0].topics[0], "orders") == 0);
    EXPECT(d->partition_count == 2);
    EXPECT(d->partitions[0].committed == 2 && d->partitions[0].end_offset == 5);
    EXPECT(d->partitions[0].lag == 3);
    EXPECT(d->partitions[1].committed == 1 && d->partitions[1].lag == 2);
    EXPECT(d->partitions[0].owner != NULL && strcmp(d->partitions[0].owner, d->members[0].id) == 0);
    brooklet_group_description_free(d);
    EXPECT_STATUS(brooklet_describe_group(db, "nope", &d), BROOKLET_NOT_FOUND);
    EXPECT(d == NULL);
    /* A group with a live member is not deleted. */
    EXPECT_STATUS(brooklet_delete_group(db, "billing"), BROOKLET_INVALID);
    EXPECT(error_mentions("live member"));

    /* Closed: every call but free is BROOKLET_CLOSED. */
    EXPECT_OK(brooklet_consumer_close(c));
    brooklet_records *records = NULL;
    EXPECT_STATUS(brooklet_consumer_poll(c, 0, &records), BROOKLET_CLOSED);
    EXPECT(records == NULL && error_mentions("closed"));
    EXPECT_STATUS(brooklet_consumer_commit(c), BROOKLET_CLOSED);
    EXPECT_STATUS(brooklet_consumer_commit_offsets(c, offsets, 2), BROOKLET_CLOSED);
    EXPECT_STATUS(brooklet_consumer_seek(c, "orders", 0, BROOKLET_POSITION_END, 0),
                  BROOKLET_CLOSED);
    EXPECT_STATUS(brooklet_consumer_position(c, "orders", 0, &position), BROOKLET_CLOSED);
    EXPECT_STATUS(brooklet_consumer_committed(c, "orders", 0, &committed), BROOKLET_CLOSED);
    EXPECT_STATUS(brooklet_consumer_lag(c, "orders", 0, &lag), BROOKLET_CLOSED);
    EXPECT_STATUS(brooklet_consumer_assignment(c, &assignment), BROOKLET_CLOSED);
    EXPECT_STATUS(brooklet_consumer_close(c), BROOKLET_CLOSED);
    brooklet_consumer_free(c);

    /* The member left: the group has no members, and keeps its offsets. */
    EXPECT_OK(brooklet_describe_group(db, "billing", &d));
    EXPECT(d->member_count == 0 && d->partitions[0].committed == 2);
    brooklet_group_description_free(d);
    EXPECT_OK(brooklet_close(db));
}

static void test_consumer_waits_for_topics_and_commits_automatically(void) {
    brooklet_db *db = open_new("consumer-wait");
    brooklet_consumer_options o;
    brooklet_consumer_options_init(&o);
    o.wait_for_topics = 1;
    o.auto_commit_interval_ms = 1;
    o.auto_offset_reset = BROOKLET_OFFSET_RESET_EARLIEST;
    const char *topics[] = {"later"};
    brooklet_consumer *c = NULL;
    EXPECT_OK(brooklet_consumer_new(db, "g", topics, 1, &o, &c));
    EXPECT_OK(brooklet_create_topic(db, "later", 1, NULL, 0));
    send_values(db, "later", 0, 2);
    size_t seen = 0;
    for (int i = 0; i < 50 && seen < 2; i++) {
        brooklet_records *records = NULL;
        EXPECT_OK(brooklet_consumer_poll(c, 100, &records));
        seen += count_records(records);
        brooklet_records_free(records);
    }
    EXPECT(seen == 2);
    EXPECT_OK(brooklet_consumer_close(c)); /* auto-commit commits on close */
    brooklet_consumer_free(c);
    brooklet_group_description *d = NULL;
    EXPECT_OK(brooklet_describe_group(db, "g", &d));
    EXPECT(d->partition_count == 1 && d->partitions[0].committed == 2);
    brooklet_group_description_free(d);
    /* Once no member is live, the group can be deleted, offsets and all. */
    EXPECT_OK(brooklet_delete_group(db, "g"));
    d = NULL;
    EXPECT_STATUS(brooklet_describe_group(db, "g", &d), BROOKLET_NOT_FOUND);
    EXPECT(d == NULL);
    EXPECT_STATUS(brooklet_delete_group(db, "g"), BROOKLET_NOT_FOUND);
    EXPECT_STATUS(brooklet_delete_group(db, NULL), BROOKLET_MISUSE);
    EXPECT_OK(brooklet_close(db));
}

static void test_check(void) {
    brooklet_db *db = open_new("check");
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    send_values(db, "t", 0, 10);
    brooklet_check_report *report = NULL;
    EXPECT_OK(brooklet_check(db, &report));
    EXPECT(report->clean && report->problem_count == 0 && report->problems == NULL);
    EXPECT(report->rolled_back_count == 0 && report->rolled_back == NULL && !report->lost_durable);
    EXPECT(report->page_size == 4096 && report->page_count > 1 && report->txn > 0);
    brooklet_check_report_free(report);
    EXPECT_OK(brooklet_close(db));
}

static uint64_t le_at(const uint8_t *bytes, size_t at, int width) {
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--) v = (v << 8) | bytes[at + (size_t)i];
    return v;
}

/* A durable commit damaged on disk after it returned: opening rolls it back, and the
 * check report says so (and is not clean), as the CLI's check does. The damage is the
 * one `tests/cli/commands.rs: check_reports_a_rolled_back_commit` makes: the commit slot
 * with the newer txn (byte 32 of header page 0 or 1) lists the pages its commit wrote in
 * an inline journal; the first of them gets a flipped byte. */
static void test_check_reports_a_rolled_back_commit(void) {
    const char *path = path_for("rolled-back");
    brooklet_options o;
    EXPECT_OK(brooklet_options_init(&o));
    o.page_size = 512;
    brooklet_db *db = NULL;
    EXPECT_OK(brooklet_open(path, &o, &db));
    EXPECT_OK(brooklet_create_topic(db, "t", 1, NULL, 0));
    /* The last commit is large enough to write pages (a small one rides in its slot). */
    static const char value[] =
        "a value long enough that forty of them fill several 512-byte pages of the file";
    brooklet_record_in batch[40];
    for (int i = 0; i < 40; i++) batch[i] = text_record(NULL, value);
    EXPECT_OK(brooklet_send_batch(db, "t", 0, batch, 40, NULL));
    EXPECT_OK(brooklet_close(db));

    static uint8_t bytes[1 << 20];
    int fd = open(path, O_RDWR);
    EXPECT(fd >= 0);
    ssize_t size = read(fd, bytes, sizeof bytes);
    EXPECT(size > 2 * 512 && size < (ssize_t)sizeof bytes);
    size_t newest = le_at(bytes, 512 + 40, 8) > le_at(bytes, 40, 8) ? 1 : 0;
    size_t slot = newest * 512 + 32;
    EXPECT(le_at(bytes, slot + 80, 4) > 0); /* the newest commit has an inline journal */
    size_t page = (size_t)le_at(bytes, slot + 108, 4);
    EXPECT(page * 512 + 10 < (size_t)size);
    uint8_t flipped = bytes[page * 512 + 10] ^ 0xff;
    EXPECT(pwrite(fd, &flipped, 1, (off_t)(page * 512 + 10)) == 1);
    close(fd);

    EXPECT_OK(brooklet_open(path, NULL, &db));
    brooklet_check_report *report = NULL;
    EXPECT_OK(brooklet_check(db, &report));
    EXPECT(!report->clean && report->problem_count == 0);
    EXPECT(report->rolled_back_count == 1 && report->lost_durable);
    EXPECT(strstr(report->rolled_back[0], "durable") != NULL);
    brooklet_check_report_free(report);
    EXPECT_OK(brooklet_close(db));
}

struct thread_args {
    brooklet_db *db;
    int index;
    int ok;
    char message[256];
};

static void *send_from_thread(void *arg) {
    struct thread_args *a = arg;
    a->ok = 1;
    for (int i = 0; i < 50; i++) {
        char value[32];
        snprintf(value, sizeof value, "thread-%d-%d", a->index, i);
        brooklet_record_in rec = text_record(NULL, value);
        if (brooklet_send(a->db, "t", a->index % 2, &rec, NULL) != BROOKLET_OK) a->ok = 0;
    }
    /* The error message is per thread: a failure here is not seen by the others. */
    char topic[32];
    snprintf(topic, sizeof topic, "missing-%d", a->index);
    if (brooklet_delete_topic(a->db, topic) != BROOKLET_NOT_FOUND) a->ok = 0;
    snprintf(a->message, sizeof a->message, "%s", brooklet_errmsg());
    return NULL;
}

static void test_threads_share_a_database(void) {
    brooklet_db *db = open_new("threads");
    EXPECT_OK(brooklet_create_topic(db, "t", 2, NULL, 0));
    EXPECT_STATUS(brooklet_delete_topic(db, "main-thread-missing"), BROOKLET_NOT_FOUND);
    pthread_t threads[4];
    struct thread_args args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_args){.db = db, .index = i};
        EXPECT(pthread_create(&threads[i], NULL, send_from_thread, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        EXPECT(pthread_join(threads[i], NULL) == 0);
        EXPECT(args[i].ok);
        char want[64];
        snprintf(want, sizeof want, "\"missing-%d\" does not exist", i);
        EXPECT(strstr(args[i].message, want) != NULL);
    }
    EXPECT(error_mentions("main-thread-missing"));
    uint64_t end0, end1;
    EXPECT_OK(brooklet_end_offset(db, "t", 0, &end0));
    EXPECT_OK(brooklet_end_offset(db, "t", 1, &end1));
    EXPECT(end0 == 100 && end1 == 100);
    EXPECT_OK(brooklet_close(db));
}

/* ---- the runner ---- */

struct test {
    const char *name;
    void (*run)(void);
};

static const struct test tests[] = {
    {"version_and_errstr", test_version_and_errstr},
    {"options_defaults_and_reopen", test_options_defaults_and_reopen},
    {"null_pointers_are_misuse", test_null_pointers_are_misuse},
    {"invalid_utf8_is_invalid", test_invalid_utf8_is_invalid},
    {"topics", test_topics},
    {"send_fetch_and_offsets", test_send_fetch_and_offsets},
    {"null_and_empty_round_trip", test_null_and_empty_round_trip},
    {"header_order_and_duplicates", test_header_order_and_duplicates},
    {"records_next_batch", test_records_next_batch},
    {"timestamps", test_timestamps},
    {"too_large", test_too_large},
    {"out_of_range", test_out_of_range},
    {"delete_records", test_delete_records},
    {"read_only_refuses_changes", test_read_only_refuses_changes},
    {"corrupt_file", test_corrupt_file},
    {"producers_and_durability", test_producers_and_durability},
    {"reader", test_reader},
    {"consumer", test_consumer},
    {"consumer_waits_for_topics_and_commits_automatically",
     test_consumer_waits_for_topics_and_commits_automatically},
    {"check", test_check},
    {"check_reports_a_rolled_back_commit", test_check_reports_a_rolled_back_commit},
    {"threads_share_a_database", test_threads_share_a_database},
};

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (a directory for the test files)\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t count = sizeof tests / sizeof tests[0];
    for (size_t i = 0; i < count; i++) {
        tests[i].run();
        printf("ok %s\n", tests[i].name);
    }
    printf("%zu checks\n", (size_t)checks);
    printf("%zu passed, 0 failed\n", count);
    return 0;
}
