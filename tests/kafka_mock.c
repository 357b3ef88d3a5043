/* SPDX-License-Identifier: MIT */
/*
 * A Kafka cluster for the tests: librdkafka's mock cluster (rd_kafka_mock_cluster_new) on real
 * sockets. Creates TOPIC with PARTITIONS partitions, prints the bootstrap servers on one line,
 * and stays up until stdin closes or SIGTERM.
 *
 *     kafka_mock TOPIC PARTITIONS [BROKERS]
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    char err[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int brokers = argc > 3 ? atoi(argv[3]) : 1;

    if (argc < 3) {
        fprintf(stderr, "usage: kafka_mock TOPIC PARTITIONS [BROKERS]\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)); /* no CONFWARN */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL) {
        fprintf(stderr, "kafka_mock: %s\n", err);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "kafka_mock: cannot start a mock cluster\n");
        return 1;
    }
    if (rd_kafka_mock_topic_create(mc, argv[1], atoi(argv[2]), 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka_mock: cannot create topic %s\n", argv[1]);
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (!stop)
        sleep(1);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
