/*
 * sa-query: send one SA MAD (given as hex) to the SA and print the answer.
 *
 * Test infrastructure for vector capture on the simulated fabric (ibsim +
 * libumad2sim.so); never shipped. Build: gcc -O2 -o sa-query sa-query.c -libumad
 *
 * usage: sa-query [-t TIMEOUT_MS] [-l LINGER_MS] [-g OFF]... [-L OFF]... REQ.hex
 *
 *   REQ.hex   256-byte MAD as hex text (whitespace ignored), from BaseVersion.
 *   -g OFF    write this port's GID (subnet prefix + port GUID) at MAD offset OFF
 *   -L OFF    write this port's LID (16 bits, big endian) at MAD offset OFF
 *   -t MS     how long to wait for the answer (default 2000)
 *   -l MS     stay attached this long after the answer (default 200): the
 *             simulated fabric can lose a client's last MADs if it detaches at once
 *
 * The MAD goes to the SM LID of the port (QP1, Q_Key 0x80010000). The answer
 * (first MAD received with the response bit set) is printed to stdout as hex,
 * 16 bytes per line; its status and method go to stderr. Note: the simulated
 * fabric cuts received MADs at 224 bytes, so the printed bytes 224..255 are
 * not what the SA sent; the capture script takes MADs from ibsim's own dump.
 *
 * Exit status: 0 answer received (whatever its MAD status), 2 timeout, 1 error.
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

static int read_hex_file(const char *path, uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c, hi = -1;

	if (!f) {
		perror(path);
		return -1;
	}
	while ((c = fgetc(f)) != EOF) {
		int v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			if (n >= len) {
				fprintf(stderr, "%s: more than %zu bytes\n", path, len);
				fclose(f);
				return -1;
			}
			buf[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	fclose(f);
	if (n != len || hi >= 0) {
		fprintf(stderr, "%s: %zu bytes, expected %zu\n", path, n, len);
		return -1;
	}
	return 0;
}

static void print_hex(FILE *out, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(out, "%02x%c", b[i], (i % 16 == 15) ? '\n' : ' ');
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv)
{
	int timeout_ms = 2000, linger_ms = 200, opt;
	int gid_offs[8], n_gid = 0, lid_offs[8], n_lid = 0;
	uint8_t req[MAD_LEN];
	umad_port_t port;
	int fd, agent, rc = 2;
	void *umad;
	long method_mask[16 / sizeof(long)];

	while ((opt = getopt(argc, argv, "t:l:g:L:")) != -1) {
		switch (opt) {
		case 't': timeout_ms = atoi(optarg); break;
		case 'l': linger_ms = atoi(optarg); break;
		case 'g':
			if (n_gid < 8) gid_offs[n_gid++] = (int)strtol(optarg, NULL, 0);
			break;
		case 'L':
			if (n_lid < 8) lid_offs[n_lid++] = (int)strtol(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-t ms] [-l ms] [-g off] [-L off] REQ.hex\n", argv[0]);
			return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-t ms] [-l ms] [-g off] [-L off] REQ.hex\n", argv[0]);
		return 1;
	}
	if (read_hex_file(argv[optind], req, sizeof(req)))
		return 1;

	if (umad_init() < 0) {
		fprintf(stderr, "umad_init failed\n");
		return 1;
	}
	if (umad_get_port(NULL, 0, &port) < 0) {
		fprintf(stderr, "umad_get_port failed\n");
		return 1;
	}
	for (int i = 0; i < n_gid; i++) {
		if (gid_offs[i] < 0 || gid_offs[i] + 16 > MAD_LEN) return 1;
		memcpy(req + gid_offs[i], &port.gid_prefix, 8);
		memcpy(req + gid_offs[i] + 8, &port.port_guid, 8);
	}
	for (int i = 0; i < n_lid; i++) {
		uint16_t lid = htobe16((uint16_t)port.base_lid);
		if (lid_offs[i] < 0 || lid_offs[i] + 2 > MAD_LEN) return 1;
		memcpy(req + lid_offs[i], &lid, 2);
	}
	fd = umad_open_port(NULL, 0);
	if (fd < 0) {
		fprintf(stderr, "umad_open_port failed: %d\n", fd);
		return 1;
	}
	/* no unsolicited methods wanted: we only receive answers */
	memset(method_mask, 0, sizeof(method_mask));
	agent = umad_register(fd, SA_CLASS, SA_CLASS_VERSION, 0, method_mask);
	if (agent < 0) {
		fprintf(stderr, "umad_register failed: %d\n", agent);
		return 1;
	}
	umad = umad_alloc(1, umad_size() + MAD_LEN);
	if (!umad)
		return 1;
	memset(umad, 0, umad_size() + MAD_LEN);
	memcpy(umad_get_mad(umad), req, MAD_LEN);
	umad_set_addr(umad, (int)port.sm_lid, 1, 0, QP1_QKEY);
	if (umad_send(fd, agent, umad, MAD_LEN, 0, 0) < 0) {
		fprintf(stderr, "umad_send failed: %s\n", strerror(errno));
		return 1;
	}

	long deadline = now_ms() + timeout_ms;
	while (now_ms() < deadline) {
		int len = MAD_LEN;
		long left = deadline - now_ms();
		memset(umad, 0, umad_size() + MAD_LEN);
		int r = umad_recv(fd, umad, &len, (int)(left > 0 ? left : 0));
		if (r < 0) {
			if (r == -ETIMEDOUT || r == -EWOULDBLOCK || r == -EAGAIN) {
				usleep(1000);
				continue;
			}
			fprintf(stderr, "umad_recv: %d\n", r);
			usleep(1000);
			continue;
		}
		uint8_t *mad = umad_get_mad(umad);
		if (!(mad[3] & 0x80))
			continue;
		/* same transaction: the low 32 bits of the TID are ours alone */
		if (memcmp(mad + 12, req + 12, 4) != 0)
			continue;
		print_hex(stdout, mad, MAD_LEN);
		fflush(stdout);
		fprintf(stderr, "sa-query: method 0x%02x attr 0x%04x status 0x%04x\n",
			mad[3], mad[16] << 8 | mad[17], mad[4] << 8 | mad[5]);
		rc = 0;
		break;
	}
	if (rc)
		fprintf(stderr, "sa-query: no answer within %d ms\n", timeout_ms);
	usleep(linger_ms * 1000);
	umad_unregister(fd, agent);
	umad_close_port(fd);
	umad_free(umad);
	umad_done();
	return rc;
}
