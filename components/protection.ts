import * as pulumi from "@pulumi/pulumi";

/**
 * Resource options for objects that hold data (Databases, the StatefulSet whose volume holds PGDATA).
 *
 * Outside the test environment they are `protect`ed, so `pulumi destroy`, a rename or a replace-forcing
 * change stops with an error instead of dropping data (STANDARD defect 12), and `retainOnDelete`, so that
 * even after someone unprotects them, removing them from the program leaves the object in place. The test
 * environment is disposable: neither applies.
 */
export function dataProtection(protectData: boolean): pulumi.CustomResourceOptions {
    return protectData ? { protect: true, retainOnDelete: true } : {};
}

/**
 * Options of an object inside a database whose service is being renamed (`renamedFrom`): the database is
 * renamed in place, but a Grant's or an Extension's `database` forces its replacement, whose delete step
 * would connect to the old database name, which no longer exists, and fail the update half-way
 * (`startTransaction(db.client, database)` in the provider's Grant and Extension deletes). Retained, the
 * old object is only forgotten; the new one is the same object under the database's new name.
 */
export function renamedDatabaseChild(renamed: boolean): pulumi.CustomResourceOptions {
    return renamed ? { retainOnDelete: true } : {};
}
