/* brooklet from C: open a file, create a topic, send records with headers, fetch them,
 * and consume them as a member of a consumer group. Build and run: examples/c/run.sh. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "brooklet.h"

/* Every call returns a status; on failure, brooklet_errmsg() says why. */
#define CHECK(call)                                                                   \
    do {                                                                              \
        brooklet_status status_ = (call);                                             \
        if (status_ != BROOKLET_OK) {                                                 \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, brooklet_errmsg(),         \
                    brooklet_errstr(status_));                                        \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

static void print_record(const brooklet_record *r) {
    printf("%s/%u offset %llu: key=%.*s value=%.*s", r->topic, r->partition,
           (unsigned long long)r->offset, (int)r->key_len, r->key ? (const char *)r->key : "",
           (int)r->value_len, r->value ? (const char *)r->value : "");
    for (size_t i = 0; i < r->header_count; i++) {
        const brooklet_header *h = &r->headers[i];
        printf(" [%.*s=%.*s]", (int)h->key_len, h->key, (int)h->value_len,
               h->value ? (const char *)h->value : "null");
    }
    printf("\n");
}

int main(int argc, char **argv) {
    char path[256];
    snprintf(path, sizeof path, "%s/example-%d.brooklet", argc > 1 ? argv[1] : "/tmp",
             (int)getpid());
    unlink(path);

    brooklet_options options;
    brooklet_options_init(&options);
    brooklet_db *db = NULL;
    CHECK(brooklet_open(path, &options, &db)); /* creates the file */
    printf("brooklet %s\n", brooklet_version());

    /* A topic with two partitions; configs use Kafka's names. */
    brooklet_config_entry configs[] = {{"retention.ms", "604800000"}};
    CHECK(brooklet_create_topic(db, "orders", 2, configs, 1));

    /* One record with a key and two headers; the key picks the partition. */
    const char *key = "customer-7", *value = "{\"total\":42}";
    brooklet_header headers[] = {
        {"trace", 5, (const uint8_t *)"a1", 2},
        {"source", 6, (const uint8_t *)"web", 3},
    };
    brooklet_record_in record = {
        .key = (const uint8_t *)key, .key_len = strlen(key),
        .value = (const uint8_t *)value, .value_len = strlen(value),
        .headers = headers, .header_count = 2,
    };
    brooklet_record_metadata sent;
    CHECK(brooklet_send(db, "orders", BROOKLET_PARTITION_ANY, &record, &sent));
    printf("stored in partition %u at offset %llu\n", sent.partition,
           (unsigned long long)sent.offset);

    /* Fetch the partition from the start and iterate its records. */
    brooklet_records *records = NULL;
    CHECK(brooklet_fetch(db, "orders", sent.partition, 0, 0, 0, &records));
    brooklet_record r;
    while (brooklet_records_next(records, &r) == BROOKLET_ROW) {
        print_record(&r);
    }
    brooklet_records_free(records);

    /* A consumer group member: poll, handle, commit. */
    brooklet_consumer_options consumer_options;
    brooklet_consumer_options_init(&consumer_options);
    consumer_options.auto_offset_reset = BROOKLET_OFFSET_RESET_EARLIEST;
    const char *topics[] = {"orders"};
    brooklet_consumer *consumer = NULL;
    CHECK(brooklet_consumer_new(db, "billing", topics, 1, &consumer_options, &consumer));
    CHECK(brooklet_consumer_poll(consumer, 1000, &records));
    while (brooklet_records_next(records, &r) == BROOKLET_ROW) {
        print_record(&r);
    }
    brooklet_records_free(records);
    CHECK(brooklet_consumer_commit(consumer));
    CHECK(brooklet_consumer_close(consumer));
    brooklet_consumer_free(consumer);

    CHECK(brooklet_close(db));
    unlink(path);
    return 0;
}
