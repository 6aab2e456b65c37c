#include "crossover/cli/app.h"

int main(int argc, char** argv) { return crossover::cli::run(argc, argv); }
