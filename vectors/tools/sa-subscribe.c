/*
 * sa-subscribe: subscribe to SA traps with SubnAdmSet(InformInfo), then
 * receive SubnAdmReport(Notice) MADs and acknowledge each with a
 * SubnAdmReportResp.
 *
 * Test infrastructure for vector capture on the simulated fabric (ibsim +
 * libumad2sim.so); never shipped. Build: gcc -O2 -o sa-subscribe sa-subscribe.c -libumad
 *
 * Run it attached with SIM_SET_ISSM=1: ibsim hands unsolicited requests (the
 * Reports) only to such clients. OpenSM must then run with -d 0.
 *
 * usage: sa-subscribe [-T TRAP]... [-n REPORTS] [-w SECONDS] [-l LINGER_MS]
 *
 *   -T TRAP     generic trap number to subscribe to (repeatable; default 64 and 65)
 *   -n REPORTS  exit after this many Reports (default 2)
 *   -w SECONDS  give up waiting for Reports after this long (default 30)
 *   -l MS       stay attached this long before exiting (default 500): a client
 *               that detaches right after its last send can lose that MAD
 *
 * One InformInfo Set per trap: GID 0, LIDRangeBegin 0xFFFF (all), IsGeneric 1,
 * Subscribe 1, Type 0x0003 (IB_NOTICE_TYPE_SUBN_MGMT: OpenSM issues traps 64
 * and 65 with generic type 0x80|SUBN_MGMT and producer type 4), TrapNumber,
 * QPN 1, RespTimeValue 18, ProducerType 0x000004 (class manager).
 *
 * Output on stdout, one line per event, flushed at once (the capture script
 * waits on them):
 *   GETRESP trap=N status=0xSSSS tid=0x...
 *   SUBSCRIBED
 *   REPORT trap=N tid=0x... issuer_lid=L
 *   DONE
 * Exit status: 0 all subscriptions answered with status 0 and REPORTS
 * received, 2 timeout, 1 error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>
#include <infiniband/umad.h>

#define MAD_LEN 256
#define SA_CLASS 0x03
#define SA_CLASS_VERSION 2
#define QP1_QKEY 0x80010000

#define METHOD_SET 0x02
#define METHOD_GETRESP 0x81
#define METHOD_REPORT 0x06
#define METHOD_REPORTRESP 0x86
#define ATTR_NOTICE 0x0002
#define ATTR_INFORMINFO 0x0003

#define SA_DATA 56	/* MAD (24) + RMPP (12) + SA header (20) */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void put64(uint8_t *p, uint64_t v) { put32(p, v >> 32); put32(p + 4, (uint32_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int g_fd, g_agent;
static void *g_umad;

static int send_mad(const uint8_t *mad, int dlid, int dqp)
{
	memset(g_umad, 0, umad_size() + MAD_LEN);
	memcpy(umad_get_mad(g_umad), mad, MAD_LEN);
	umad_set_addr(g_umad, dlid, dqp, 0, QP1_QKEY);
	if (umad_send(g_fd, g_agent, g_umad, MAD_LEN, 0, 0) < 0) {
		fprintf(stderr, "sa-subscribe: umad_send failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* receive one MAD within timeout_ms; returns 0 and fills mad/src, or -1 */
static int recv_mad(uint8_t *mad, int *src_lid, int *src_qp, long timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	while (now_ms() < deadline) {
		int len = MAD_LEN;
		long left = deadline - now_ms();
		memset(g_umad, 0, umad_size() + MAD_LEN);
		int r = umad_recv(g_fd, g_umad, &len, (int)(left > 0 ? left : 0));
		if (r < 0) {
			usleep(1000);
			continue;
		}
		ib_mad_addr_t *addr = umad_get_mad_addr(g_umad);
		memcpy(mad, umad_get_mad(g_umad), MAD_LEN);
		*src_lid = be16toh(addr->lid);
		*src_qp = (int)be32toh(addr->qpn);
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	int traps[8], n_traps = 0, want_reports = 2, wait_s = 30, linger_ms = 500, opt;
	umad_port_t port;
	long method_mask[16 / sizeof(long)];
	uint8_t mad[MAD_LEN];
	int rc = 0;
	uint32_t tid_base;

	while ((opt = getopt(argc, argv, "T:n:w:l:")) != -1) {
		switch (opt) {
		case 'T': if (n_traps < 8) traps[n_traps++] = atoi(optarg); break;
		case 'n': want_reports = atoi(optarg); break;
		case 'w': wait_s = atoi(optarg); break;
		case 'l': linger_ms = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-T trap]... [-n reports] [-w s] [-l ms]\n", argv[0]);
			return 1;
		}
	}
	if (!n_traps) {
		traps[n_traps++] = 64;
		traps[n_traps++] = 65;
	}

	if (umad_init() < 0 || umad_get_port(NULL, 0, &port) < 0) {
		fprintf(stderr, "sa-subscribe: no umad port\n");
		return 1;
	}
	g_fd = umad_open_port(NULL, 0);
	if (g_fd < 0) {
		fprintf(stderr, "sa-subscribe: umad_open_port failed\n");
		return 1;
	}
	/* Report (0x06) is the unsolicited method we must be able to receive */
	memset(method_mask, 0, sizeof(method_mask));
	method_mask[METHOD_REPORT / (8 * sizeof(long))] |= 1L << (METHOD_REPORT % (8 * sizeof(long)));
	g_agent = umad_register(g_fd, SA_CLASS, SA_CLASS_VERSION, 0, method_mask);
	if (g_agent < 0) {
		fprintf(stderr, "sa-subscribe: umad_register failed\n");
		return 1;
	}
	g_umad = umad_alloc(1, umad_size() + MAD_LEN);
	if (!g_umad)
		return 1;

	srand((unsigned)(getpid() ^ now_ms()));
	tid_base = ((uint32_t)rand() << 8) & 0x7fffff00u;

	for (int i = 0; i < n_traps; i++) {
		uint32_t tid = tid_base + (uint32_t)i + 1;
		uint8_t *ii = mad + SA_DATA;
		int got = 0;

		memset(mad, 0, sizeof(mad));
		mad[0] = 1;			/* BaseVersion */
		mad[1] = SA_CLASS;
		mad[2] = SA_CLASS_VERSION;
		mad[3] = METHOD_SET;
		put64(mad + 8, tid);		/* TransactionID */
		put16(mad + 16, ATTR_INFORMINFO);
		/* SM_Key 0, AttributeOffset 0, ComponentMask 0 (not used by Set) */
		/* InformInfo: GID 0 (use the LID range) */
		put16(ii + 16, 0xFFFF);		/* LIDRangeBegin: all */
		put16(ii + 18, 0);		/* LIDRangeEnd */
		ii[22] = 1;			/* IsGeneric */
		ii[23] = 1;			/* Subscribe */
		put16(ii + 24, 0x0003);		/* Type: subnet management */
		put16(ii + 26, (uint16_t)traps[i]);	/* TrapNumber */
		put32(ii + 28, (1u << 8) | 18);	/* QPN 1, RespTimeValue 18 */
		ii[33] = 0x00; ii[34] = 0x00; ii[35] = 0x04;	/* ProducerType: class manager */

		if (send_mad(mad, (int)port.sm_lid, 1))
			return 1;
		long deadline = now_ms() + 3000;
		while (!got && now_ms() < deadline) {
			uint8_t in[MAD_LEN];
			int slid, sqp;
			if (recv_mad(in, &slid, &sqp, deadline - now_ms()))
				break;
			if (in[3] == METHOD_GETRESP && get16(in + 16) == ATTR_INFORMINFO &&
			    (uint32_t)get64(in + 8) == tid) {
				uint16_t status = get16(in + 4);
				printf("GETRESP trap=%d status=0x%04x tid=0x%016llx\n", traps[i],
				       status, (unsigned long long)get64(in + 8));
				fflush(stdout);
				if (status)
					rc = 1;
				got = 1;
			}
		}
		if (!got) {
			fprintf(stderr, "sa-subscribe: no answer to InformInfo Set for trap %d\n", traps[i]);
			return 2;
		}
	}
	printf("SUBSCRIBED\n");
	fflush(stdout);

	int reports = 0;
	long deadline = now_ms() + wait_s * 1000L;
	while (reports < want_reports && now_ms() < deadline) {
		int slid, sqp;
		if (recv_mad(mad, &slid, &sqp, deadline - now_ms()))
			break;
		if (mad[1] != SA_CLASS || mad[3] != METHOD_REPORT || get16(mad + 16) != ATTR_NOTICE)
			continue;
		/* Notice: byte 0 IsGeneric|Type, 1..3 ProducerType, 4..5 TrapNumber,
		 * 6..7 IssuerLID */
		uint8_t *ntc = mad + SA_DATA;
		printf("REPORT trap=%u tid=0x%016llx issuer_lid=%u\n", get16(ntc + 4),
		       (unsigned long long)get64(mad + 8), get16(ntc + 6));
		fflush(stdout);
		/* ReportResp: same TID and attribute, Notice echoed, status 0 */
		mad[3] = METHOD_REPORTRESP;
		put16(mad + 4, 0);
		if (send_mad(mad, slid, sqp ? sqp : 1))
			return 1;
		reports++;
	}
	if (reports < want_reports) {
		fprintf(stderr, "sa-subscribe: %d of %d reports before timeout\n", reports, want_reports);
		rc = 2;
	}
	usleep(linger_ms * 1000);
	printf("DONE\n");
	fflush(stdout);
	umad_unregister(g_fd, g_agent);
	umad_close_port(g_fd);
	umad_free(g_umad);
	umad_done();
	return rc;
}
