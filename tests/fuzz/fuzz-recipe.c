/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz harness for the recipe parser (libyaml tree + recipe checks) and the
 * template renderer with the kickstart checks. Under libFuzzer (-fsanitize=
 * fuzzer) a fuzzer; otherwise a plain test replaying a corpus and seeded
 * mutations. Each input must give a recipe or an error naming a position.
 */
#include "fuzz-main.h"
#include "install/kickstart.h"
#include "recipe/customize-ops.h"
#include "recipe/recipe.h"
#include "recipe/targets.h"
#include "recipe/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmfRecipe) r =
        vmf_recipe_load_data("fuzz.yaml", (const char *)data, size, NULL, &err);
    if (!r) {
        if (!err || !g_str_has_prefix(err->message, "fuzz.yaml:"))
            abort();
    }
    if (r) {
        /* The customize list and verify section of a recipe that loaded. */
        g_autoptr(GError) cerr = NULL;
        g_autoptr(VmfCustomize) c = vmf_customize_parse(r, &cerr);
        if (!c && (!cerr || !cerr->message[0]))
            abort();
        VmfVerify v = {0};
        g_autoptr(GError) verr = NULL;
        if (!vmf_verify_parse(r, &v, &verr) && (!verr || !verr->message[0]))
            abort();
        vmf_verify_clear(&v);
        /* Targets, scratch and convert, with the source tree's presets. */
        g_autoptr(GError) terr2 = NULL;
        const char *tdir = g_getenv("VMFORGE_TEMPLATES");
        g_autoptr(VmfTargets) t = vmf_targets_parse(r, tdir ? tdir : VMF_FUZZ_TEMPLATES, &terr2);
        if (!t && (!terr2 || !strstr(terr2->message, "fuzz.yaml")))
            abort();
    }
    /* The same bytes as a template, with a fixed set of variables. */
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(GHashTable) vars = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(vars, (char *)"partitions",
                        (char *)"part / --onpart=vda1\npart swap --onpart=vda2");
    g_hash_table_insert(vars, (char *)"name", (char *)"x");
    g_autoptr(GError) terr = NULL;
    g_autoptr(VmfRendered) out =
        vmf_template_render("t.ks", text, vars, vmf_kickstart_refused, &terr);
    if (!out && (!terr || !g_str_has_prefix(terr->message, "t.ks")))
        abort();
    if (out && r) {
        g_autoptr(GError) kerr = NULL;
        if (!vmf_kickstart_check(out, "t.ks", r, &kerr) && (!kerr || !kerr->message[0]))
            abort();
    }
    return 0;
}

static const char *const corpus[] = {
    "name: a\ndisk: {size: 1G, partitions: [{mount: /}]}\ninstaller: {kernel: /k, initrd: /i}\n"
    "scratch: {per_core: 5G}\nconvert: {level: 3}\ntargets:\n  - platform: kvm\n"
    "    properties: {hw_vif_model: e1000}\n  - {platform: vmware, manifest: sha1, os: rhel9}\n"
    "  - {name: v, format: vhd, options: {type: fixed}}\n  - {format: qcow2, compress: off}\n",
    "name: a\ndisk:\n  size: 1G\n  partitions:\n    - mount: /\n      bootable: true\n"
    "installer:\n  kernel: /k\n  initrd: /i\n",
    "name: a\nvars: {x: 1}\ndisk: {size: 20M, partitions: [{mount: /, size: rest}]}\n"
    "installer: {iso: ${x}, inject: http, timeout: 1h}\nhardware: {vcpus: 4, memory: 1G}\n",
    "text\n{{ partitions }}\nnetwork --hostname={{ name }}\n%post\nautopart\n%end\n",
    "{{ rootpw }}",
    "{{",
    "}}{{ }}",
    "- a\n- b\n",
    "a: &x 1\nb: *x\n",
    "---\n---\n",
    "name: [\n",
    "disk:\n  partitions:\n    - {mount: /, type: 8e}\n",
    "\t\xff\xfe",
    "name: a\ndisk: {size: 1G, partitions: [{mount: /}]}\ninstaller: {kernel: /k, initrd: /i}\n"
    "customize:\n  - hostname: x\n  - write: {path: /a, content: b, mode: \"0600\"}\n"
    "  - sysprep: [machine-id, tmp-files]\n  - user: {name: u, groups: [a, b]}\n"
    "  - delete: {path: /x, recursive: true}\nverify: {boot: true, marker: m, timeout: 1m}\n",
    "name: a\nbase:\n  image: /i.qcow2\n  sha256: "
    "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n  size: 6G\n"
    "  format: qcow2\ncustomize:\n  - cloud_init: disable\n"
    "  - cloud_init: {user_data: \"#cloud-config\", meta_data: \"instance-id: x\"}\n"
    "verify: {hepix: false}\ntargets: [{platform: kvm}]\n",
    "name: a\nbase: {image: /i}\ninstaller: {iso: /x}\n",
    "name: a\nfirmware: both\ndisk:\n  size: 1G\n  partitions:\n"
    "    - {mount: /boot/efi, size: 64M, type: efi, fstype: vfat}\n    - {mount: /}\n"
    "installer: {kernel: /k, initrd: /i}\nscratch: {size: 1G, as: deploy}\n"
    "targets: [{platform: hyperv-gen2}, {format: vhdx, options: {block_size: 1M}}]\n",
    NULL,
};

int main(int argc, char **argv)
{
    return fuzz_main(argc, argv, corpus, 2048);
}
