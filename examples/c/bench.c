/* The C API's speed, against the same workload through the Rust API
 * (ffi/examples/bench_rust.rs): send_batch of 1000-record batches (16-byte key, 100-byte
 * value, durability none) into one partition, then 5 passes fetching and iterating every
 * record, once taking the records one by one (brooklet_records_next) and once many at a
 * time (brooklet_records_next_batch). Prints records/s for each. Each workload is one
 * function (send_phase, fetch_next_phase, fetch_batch_phase), so that a profiler can count
 * its instructions.
 * examples/c/bench.sh runs both programs and compares them.
 * Usage: bench [--quick] DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "brooklet.h"

#define KEY_LEN 16
#define VALUE_LEN 100
#define BATCH 1000
#define PASSES 5

static void die(const char *what, brooklet_status status) {
    fprintf(stderr, "%s failed: %s (%s)\n", what, brooklet_errmsg(), brooklet_errstr(status));
    exit(1);
}

#define CHECK(call)                                                                   \
    do {                                                                              \
        brooklet_status status_ = (call);                                             \
        if (status_ != BROOKLET_OK) die(#call, status_);                              \
    } while (0)

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The value of record i: pseudo-random bytes (xorshift64, seeded by i), as the Rust side
 * makes them. */
static void fill_value(uint64_t i, uint8_t *value) {
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    for (int b = 0; b < VALUE_LEN; b++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        value[b] = (uint8_t)x;
    }
}

/* Sends records 0..count in batches of BATCH; returns the seconds it took. */
__attribute__((noinline)) static double send_phase(brooklet_producer *producer,
                                                   const char *keys, const uint8_t *values,
                                                   uint64_t count) {
    static brooklet_record_in batch[BATCH];
    double start = now_s();
    for (uint64_t first = 0; first < count; first += BATCH) {
        for (int j = 0; j < BATCH; j++) {
            batch[j].key = (const uint8_t *)keys + (first + j) * KEY_LEN;
            batch[j].key_len = KEY_LEN;
            batch[j].value = values + (first + j) * VALUE_LEN;
            batch[j].value_len = VALUE_LEN;
        }
        CHECK(brooklet_producer_send_batch(producer, "bench", 0, batch, BATCH, NULL));
    }
    return now_s() - start;
}

/* Fetches and iterates the partition PASSES times; returns the seconds it took. */
static inline double fetch_phase(brooklet_db *db, uint64_t count, int batched) {
    uint64_t end = 0, seen = 0, bytes = 0;
    CHECK(brooklet_end_offset(db, "bench", 0, &end));
    double start = now_s();
    for (int pass = 0; pass < PASSES; pass++) {
        uint64_t offset = 0;
        while (offset < end) {
            brooklet_records *records = NULL;
            CHECK(brooklet_fetch(db, "bench", 0, offset, 0, 0, &records));
            brooklet_status status;
            if (batched) {
                static brooklet_record views[256];
                size_t n;
                while ((status = brooklet_records_next_batch(records, views, 256, &n)) ==
                       BROOKLET_ROW) {
                    for (size_t i = 0; i < n; i++) {
                        seen++;
                        bytes += views[i].key_len + views[i].value_len + views[i].header_count;
                    }
                }
            } else {
                brooklet_record r;
                while ((status = brooklet_records_next(records, &r)) == BROOKLET_ROW) {
                    seen++;
                    bytes += r.key_len + r.value_len + r.header_count;
                }
            }
            if (status != BROOKLET_DONE) die("brooklet_records_next", status);
            CHECK(brooklet_records_next_offset(records, &offset));
            brooklet_records_free(records);
        }
    }
    double seconds = now_s() - start;
    if (seen != PASSES * count || bytes != PASSES * count * (KEY_LEN + VALUE_LEN)) {
        fprintf(stderr, "read %llu records, %llu bytes\n", (unsigned long long)seen,
                (unsigned long long)bytes);
        exit(1);
    }
    return seconds;
}

/* The two ways of iterating, each a function of its own for the profiler. */
__attribute__((noinline)) static double fetch_next_phase(brooklet_db *db, uint64_t count) {
    return fetch_phase(db, count, 0);
}

__attribute__((noinline)) static double fetch_batch_phase(brooklet_db *db, uint64_t count) {
    return fetch_phase(db, count, 1);
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (argc != 2 + quick) {
        fprintf(stderr, "usage: %s [--quick] DIR\n", argv[0]);
        return 2;
    }
    uint64_t count = quick ? 100000 : 1000000;
    char path[1024];
    snprintf(path, sizeof path, "%s/bench-c-%d.brooklet", argv[1 + quick], (int)getpid());
    unlink(path);

    char *keys = malloc(count * KEY_LEN + 1);
    uint8_t *values = malloc(count * VALUE_LEN);
    if (!keys || !values) return 1;
    for (uint64_t i = 0; i < count; i++) {
        snprintf(keys + i * KEY_LEN, KEY_LEN + 1, "key-%012llu", (unsigned long long)i);
        fill_value(i, values + i * VALUE_LEN);
    }

    brooklet_db *db = NULL;
    CHECK(brooklet_open(path, NULL, &db));
    CHECK(brooklet_create_topic(db, "bench", 1, NULL, 0));
    brooklet_producer *producer = NULL;
    CHECK(brooklet_producer_new(db, BROOKLET_DURABILITY_NONE, &producer));

    double send_s = send_phase(producer, keys, values, count);
    CHECK(brooklet_flush(db));
    double fetch_s = fetch_next_phase(db, count);
    double fetch_batch_s = fetch_batch_phase(db, count);

    unsigned long long fetched = PASSES * count;
    printf("C send_batch %llu records %.3f s %.0f records/s\n", (unsigned long long)count,
           send_s, (double)count / send_s);
    printf("C fetch %llu records %.3f s %.0f records/s\n", fetched, fetch_s,
           (double)fetched / fetch_s);
    printf("C fetch_batch %llu records %.3f s %.0f records/s\n", fetched, fetch_batch_s,
           (double)fetched / fetch_batch_s);

    brooklet_producer_free(producer);
    CHECK(brooklet_close(db));
    unlink(path);
    free(keys);
    free(values);
    return 0;
}
