// build/waterfall: runs the SAM optimisation waterfall (one stage process per experiment),
// stores the results in SQLite, compares runs, draws the chart and exports the seed's CSV.
#include <string.h>

#include "cmds.h"
#include "util.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: waterfall <command> [options]      ('waterfall <command> --help' for each)\n"
        "  run [EXPERIMENT]    run stages x models x batch sizes, one fresh process each, into\n"
        "                      the database; --resume finishes an incomplete run\n"
        "  list                the runs in the database\n"
        "  show [RUN]          one run: environment, summary table, what each stage adds, failures\n"
        "  compare [A] [B]     FASTER / SLOWER / SAME / UNCLEAR per experiment; exit 1 on a regression;\n"
        "                      ratios only between runs on different devices\n"
        "  plot                the waterfall chart of a run (SVG, gnuplot); --with RUN beside it\n"
        "  export --csv|--json|--sql  the seed's results.csv columns for a run, or an SQL dump\n"
        "  import FILE         copy the complete runs of another results database, its SQL dump, or\n"
        "                      the seed's published results.csv\n"
        "  agree A B           the accuracy gate's agreement between two masks files (no database)\n"
        "list, show, compare, plot and export read an existing database and never create one.\n"
        "The database is " WF_DEFAULT_DB " unless --db FILE is given. Stage executables\n"
        "(sam-<stage>) are found beside this program.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "list")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "show")) return cmd_show(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare")) return cmd_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "import")) return cmd_import(argc - 1, argv + 1);
    if (!strcmp(cmd, "agree")) return cmd_agree(argc - 1, argv + 1);
    fprintf(stderr, "waterfall: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
