/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-publish.c — `vmforge publish REPORT|IMAGE... --to DEST`: images into
 * OpenStack Glance and libvirt storage pools (see publish.h).
 */
#include "commands.h"
#include "publish/publish.h"
#include "util/exit-codes.h"

#include <string.h>

#define CMD "publish"

typedef struct {
    VmfCliArgs c;
    char **to, **tags, **properties;
    char *only, *name, *visibility, *limit_rate, *upload;
    gboolean force, json, quiet, dry_run;
} Args;

static void args_clear(Args *a)
{
    vmf_cli_args_clear(&a->c);
    g_strfreev(a->to);
    g_strfreev(a->tags);
    g_strfreev(a->properties);
    g_free(a->only);
    g_free(a->name);
    g_free(a->visibility);
    g_free(a->limit_rate);
    g_free(a->upload);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

static const VmfCliHelp help = {
    .name = CMD,
    .params = "REPORT.json|IMAGE... --to DEST...",
    .summary =
        "Send the images of a build (its report.json), of a backup (NAME.report.json) or image\n"
        "files into OpenStack Glance and libvirt storage pools, on this host or any other.\n\n"
        "glance:[CLOUD] is a cloud of clouds.yaml (with secure.yaml; looked for in\n"
        "$OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/, /etc/openstack/), else $OS_CLOUD,\n"
        "else the OS_* variables: Keystone v3 with a password, an application credential or a\n"
        "token; the image endpoint from the token's catalog (interface and region as\n"
        "configured); TLS with cacert and verify as configured. Each image is created with\n"
        "its disk and container format, its target's OpenStack properties (the platform's\n"
        "hw_* and os_type, the recipe's own) and what the options add; its data is sent with\n"
        "the interoperable import (glance-direct) where the cloud offers it, else with PUT,\n"
        "streamed from the file, hashed as it goes. Once active, Glance's own hash\n"
        "(os_hash_algo, os_hash_value) must be the file's, and what was sent must be what the\n"
        "report lists: else the image is deleted and the publish fails. An image of the same\n"
        "name and content in the project is reused, nothing sent (--force sends anyway).\n"
        "On Ctrl-C, an error or a lost connection the image made is deleted (when that\n"
        "fails, its id and the command that deletes it are printed). API calls are retried\n"
        "with backoff on connection failures and 5xx answers; a failed upload is tried once\n"
        "more from the start.\n\n"
        "libvirt:URI/POOL[/NAME] makes a volume NAME (default: the image's file name) in the\n"
        "host's active pool POOL and fills it with a sparse stream (only the data crosses\n"
        "the wire); libvirt reads its format from the image. An existing volume is refused\n"
        "unless --force.",
    .description =
        "Each publish is recorded in the report.json it came from, under \"published\"\n"
        "(destination, image id or volume path, URL, bytes sent, time, reused), and with\n"
        "--json on standard output. Passwords, secrets and tokens are never written\n"
        "anywhere.\n\n"
        "Examples:\n"
        "  vmforge publish out/report.json --to glance:mycloud\n"
        "  vmforge publish out/report.json --only kvm --to "
        "libvirt:qemu+ssh://root@kvm3/system/images\n"
        "  vmforge publish golden.qcow2 --to glance: --name golden-el9 --visibility shared \\\n"
        "      --tag golden --property os_distro=almalinux\n\n"
        "Environment:\n"
        "  OS_CLOUD, OS_CLIENT_CONFIG_FILE, OS_CLIENT_SECURE_FILE, OS_AUTH_URL, OS_USERNAME,\n"
        "  OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME,\n"
        "  OS_AUTH_TYPE, OS_APPLICATION_CREDENTIAL_ID, OS_APPLICATION_CREDENTIAL_SECRET,\n"
        "  OS_TOKEN, OS_REGION_NAME, OS_INTERFACE, OS_CACERT, OS_INSECURE: as the openstack\n"
        "  client reads them\n\n" VMF_EXIT_CODES_HELP,
};

static bool valid_visibility(const char *v)
{
    return !v || strcmp(v, "private") == 0 || strcmp(v, "shared") == 0 ||
           strcmp(v, "community") == 0 || strcmp(v, "public") == 0;
}

static int check_args(const Args *a, uint64_t *rate)
{
    if (!a->c.rest || !a->c.rest[0]) {
        vmf_error(CMD, "give a report.json or image files (usage: vmforge publish "
                       "out/report.json --to glance:CLOUD)");
        return VMF_EXIT_USAGE;
    }
    if (!a->to || !a->to[0]) {
        vmf_error(CMD, "give where to: --to glance:CLOUD or --to libvirt:URI/POOL[/NAME]");
        return VMF_EXIT_USAGE;
    }
    if (!valid_visibility(a->visibility)) {
        vmf_error(CMD, "--visibility %s: give private, shared, community or public", a->visibility);
        return VMF_EXIT_USAGE;
    }
    if (a->upload && strcmp(a->upload, "auto") && strcmp(a->upload, "import") &&
        strcmp(a->upload, "put")) {
        vmf_error(CMD, "--upload %s: give auto, import or put", a->upload);
        return VMF_EXIT_USAGE;
    }
    if (a->limit_rate && (vmf_parse_size(a->limit_rate, rate) < 0 || *rate == 0)) {
        vmf_error(CMD, "--limit-rate %s: give bytes per second, e.g. 50M", a->limit_rate);
        return VMF_EXIT_USAGE;
    }
    return VMF_EXIT_OK;
}

static int parse(Args *a, int *argc, char ***argv, uint64_t *rate)
{
    const GOptionEntry entries[] = {
        {"to", 't', 0, G_OPTION_ARG_STRING_ARRAY, &a->to,
         "Where to: glance:[CLOUD] or libvirt:URI/POOL[/NAME] (repeat for several)", "DEST"},
        {"only", 0, 0, G_OPTION_ARG_STRING, &a->only,
         "Only the images of these targets (of a backup: disks), comma-separated", "T1,T2"},
        {"name", 'n', 0, G_OPTION_ARG_STRING, &a->name,
         "The image's or volume's name (one image; default: the target's OpenStack name, "
         "else RECIPE-VERSION-TARGET; for a pool, the file's name)",
         "NAME"},
        {"visibility", 0, 0, G_OPTION_ARG_STRING, &a->visibility,
         "Glance: private, shared, community or public (default: the cloud's)", "V"},
        {"tag", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->tags, "Glance: a tag (repeat for several)",
         "TAG"},
        {"property", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->properties,
         "Glance: a property, over the target's (repeat for several)", "KEY=VALUE"},
        {"upload", 0, 0, G_OPTION_ARG_STRING, &a->upload,
         "Glance: import (glance-direct: stage, then import), put (PUT .../file), auto: import "
         "where the cloud offers it (default)",
         "auto|import|put"},
        {"limit-rate", 0, 0, G_OPTION_ARG_STRING, &a->limit_rate,
         "Send at most this many bytes a second to Glance (e.g. 50M)", "RATE"},
        {"force", 'f', 0, G_OPTION_ARG_NONE, &a->force,
         "Glance: send even when the same image is there; pools: replace the volume", NULL},
        {"dry-run", 0, 0, G_OPTION_ARG_NONE, &a->dry_run,
         "Say what would be sent where; connect to nothing", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &a->json, "Print the records as JSON", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "Only errors", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->c.rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int rc = vmf_cli_parse(&help, entries, NULL, argc, argv);
    return rc ? rc : check_args(a, rate);
}

int vmf_cmd_publish(int argc, char **argv)
{
    g_auto(Args) a = {0};
    uint64_t rate = 0;
    int rc = parse(&a, &argc, &argv, &rate);
    if (rc)
        return rc;
    VmfPublishOptions o = {
        .inputs = a.c.rest,
        .to = a.to,
        .only = a.only,
        .name = a.name,
        .visibility = a.visibility,
        .tags = a.tags,
        .properties = a.properties,
        .limit_rate = rate,
        .upload = a.upload,
        .force = a.force,
        .json = a.json,
        .dry_run = a.dry_run,
        .progress = a.quiet ? VMF_PROGRESS_QUIET : VMF_PROGRESS_AUTO,
    };
    return vmf_publish(&o);
}
