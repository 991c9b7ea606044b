fn main() {
    hrsm_backup_desktop::run();
}
